#!/usr/bin/env python3
"""Azure Container Registry test front: POST /oauth2/exchange, and every other request passed
through to a real registry (Debian's docker-registry, started by scripts/registry), on
127.0.0.1, for registry-auth's [registry.azure] tests.

  acr_server.py --port 0 --upstream 127.0.0.1:PORT --issuer-key PUBLIC.pem
                --refresh-token-file FILE [--audience URI ...] [--tenant T]
                [--clock-offset S] [--exit-on-stdin-eof]

The first stdout line is "PORT <n>".

POST /oauth2/exchange (form grant_type=access_token, service, access_token[, tenant]):
  grant_type not access_token -> 400 UNSUPPORTED; service not this server's HOST:PORT -> 400;
  access_token not an RS256 JWT signed by --issuer-key -> 401 "invalid token signature";
  its exp not after now -> 401 "the access token has expired";
  its aud not one of --audience (default https://containerregistry.azure.net) -> 401 "the
  access token's audience is not accepted";
  tenant given and not the token's tid, or --tenant set and not the token's tid -> 401 "the
  access token is from another tenant";
  -> 200 {"refresh_token": <FILE's content>}. Errors are ACR's shape:
  {"errors": [{"code": "UNAUTHORIZED", "message": ...}]}.
Anything else is proxied to --upstream as is (method, path, query, headers, body), so the
registry checks the refresh token as the password of user 00000000-0000-0000-0000-000000000000
(its htpasswd), exactly as ACR takes it.
GET /_test/stats: request counts per path.
"""

import http.client
import sys

from cloud_common import Handler, JwtError, common_args, load_public_key, serve, verify_rs256

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host"}


class Acr(Handler):
    name = "acr_server"
    upstream = None
    issuer_key = None
    refresh_token_file = None
    audiences = ["https://containerregistry.azure.net"]
    tenant = None

    def acr_error(self, status, code, message):
        self.send(status, {"errors": [{"code": code, "message": message, "detail": None}]})

    def route(self, method, path):
        if path == "/oauth2/exchange" and method == "POST":
            return self.exchange()
        self.proxy(method)

    def exchange(self):
        form = self.form()
        if form.get("grant_type") != "access_token":
            return self.acr_error(400, "UNSUPPORTED", "grant type not supported")
        if form.get("service") != f"127.0.0.1:{self.port}":
            return self.acr_error(400, "BAD_REQUEST", "service does not name this registry")
        try:
            _, claims = verify_rs256(form.get("access_token", ""), self.issuer_key)
        except JwtError:
            return self.acr_error(401, "UNAUTHORIZED", "invalid token signature")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= self.now():
            return self.acr_error(401, "UNAUTHORIZED", "the access token has expired")
        if claims.get("aud") not in self.audiences:
            return self.acr_error(401, "UNAUTHORIZED",
                                  "the access token's audience is not accepted")
        tid = claims.get("tid")
        if ("tenant" in form and form["tenant"] != tid) or (self.tenant and self.tenant != tid):
            return self.acr_error(401, "UNAUTHORIZED", "the access token is from another tenant")
        with open(self.refresh_token_file, encoding="utf-8") as f:
            refresh = f.read().strip()
        self.send(200, {"refresh_token": refresh})

    def proxy(self, method):
        body = self.body()
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            # Header by header: a client may repeat one (docker sends several Accept headers).
            conn.putrequest(method, self.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self.upstream)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            reply = conn.getresponse()
            data = reply.read()
        except OSError:
            return self.send(502, {"errors": [{"code": "UNAVAILABLE", "message": "upstream"}]})
        finally:
            conn.close()
        self.send_response(reply.status)
        for k, v in reply.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
        sys.stderr.write(f"{self.name}: {method} {self.path_only()} -> {reply.status} (proxied)\n")
        sys.stderr.flush()


def main(argv):
    p = common_args(__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True, help="HOST:PORT of the real registry")
    p.add_argument("--issuer-key", required=True, help="PEM public key of the Entra test server")
    p.add_argument("--refresh-token-file", required=True, help="the refresh token to hand out")
    p.add_argument("--audience", action="append", help="an accepted aud (repeatable)")
    p.add_argument("--tenant", help="the registry's tenant")
    args = p.parse_args(argv)
    Acr.upstream = args.upstream
    with open(args.issuer_key, "rb") as f:
        Acr.issuer_key = load_public_key(f.read())
    Acr.refresh_token_file = args.refresh_token_file
    if args.audience:
        Acr.audiences = args.audience
    Acr.tenant = args.tenant
    return serve(Acr, args, f"ACR exchange in front of {args.upstream}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
