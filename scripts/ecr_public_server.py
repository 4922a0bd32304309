#!/usr/bin/env python3
"""ECR Public test server: GetAuthorizationToken over the ecr-public JSON 1.1
protocol, with the request's SigV4 signature checked by botocore's own signer.

moto has no ECR Public, so the registry-auth tests stand this in its place. Run
it with the emulator venv's python (it needs botocore):

  ecr_public_server.py --port 0 --credentials-file F [--exit-on-stdin-eof]

Binds 127.0.0.1 only. The first stdout line is "PORT <n>" (flushed). F is JSON
{"access_key_id", "secret_access_key", "session_token"?}: the one key it knows,
re-read on every request.

POST / with x-amz-target SpencerFrontendService.GetAuthorizationToken and
Content-Type application/x-amz-json-1.1, signed with SigV4 for service
"ecr-public" in region "us-east-1":
  -> 200 {"authorizationData": {"authorizationToken": base64("AWS:public-token-<key id>"),
                               "expiresAt": now + 12 h}}
Refusals, as the JSON 1.1 protocol writes them ({"__type", "message"}):
  no or malformed Authorization                        -> 400 MissingAuthenticationTokenException
  a scope other than .../us-east-1/ecr-public/aws4_request -> 400 InvalidSignatureException
  an unknown access key id                              -> 403 UnrecognizedClientException
  a wrong signature, or a session token that differs    -> 403 InvalidSignatureException
  another target                                        -> 400 UnknownOperationException
Test hooks (not counted, no signature needed):
  GET  /_test/stats -> {"requests": n, "signed_ok": n, "last_scope", "last_target"}
One log line per request on stderr (status and reason; never a key, token or
signature). SIGTERM or SIGINT -> exit 0; with --exit-on-stdin-eof also when
stdin reaches EOF.
"""

import argparse
import base64
import datetime
import hmac
import http.server
import json
import sys
import threading
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from loopback import stop_on_signal_or_stdin_eof

SERVICE = "ecr-public"
REGION = "us-east-1"
TARGET = "SpencerFrontendService.GetAuthorizationToken"


def log(msg):
    sys.stderr.write(f"ecr_public_server: {msg}\n")
    sys.stderr.flush()


class SignedHeadersOnly(SigV4Auth):
    """botocore's signer, restricted to the headers the client said it signed."""

    def __init__(self, credentials, signed):
        super().__init__(credentials, SERVICE, REGION)
        self._signed = signed

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        for name in list(headers.keys()):
            if name.lower() not in self._signed:
                del headers[name]
        for name in self._signed:
            if name not in headers and request.headers.get(name) is not None:
                headers[name] = request.headers[name]
        return headers


class State:
    def __init__(self, credentials_file):
        self.credentials_file = credentials_file
        self.lock = threading.Lock()
        self.requests = 0
        self.signed_ok = 0
        self.last_scope = None
        self.last_target = None

    def key(self):
        with open(self.credentials_file) as f:
            return json.load(f)


class Handler(http.server.BaseHTTPRequestHandler):
    state = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
        self.end_headers()
        self.wfile.write(data)
        log(f"{self.command} {self.path} -> {status} {body.get('__type', '')}")

    def _refuse(self, status, kind, message):
        return self._send(status, {"__type": kind, "message": message})

    def do_GET(self):
        if self.path == "/_test/stats":
            st = self.state
            with st.lock:
                body = {
                    "requests": st.requests,
                    "signed_ok": st.signed_ok,
                    "last_scope": st.last_scope,
                    "last_target": st.last_target,
                }
            return self._send(200, body)
        return self._refuse(404, "NotFound", "no such path")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        st = self.state
        target = self.headers.get("x-amz-target")
        auth = self.headers.get("Authorization") or ""
        with st.lock:
            st.requests += 1
            st.last_target = target
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return self._refuse(400, "MissingAuthenticationTokenException", "the request is not SigV4-signed")
        fields = {}
        for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        try:
            key_id, date, region, service, terminator = fields["Credential"].split("/")
            signed = fields["SignedHeaders"].split(";")
            signature = fields["Signature"]
        except (KeyError, ValueError):
            return self._refuse(400, "MissingAuthenticationTokenException", "malformed Authorization header")
        scope = f"{date}/{region}/{service}/{terminator}"
        with st.lock:
            st.last_scope = f"{region}/{service}/{terminator}"
        if (region, service, terminator) != (REGION, SERVICE, "aws4_request"):
            return self._refuse(400, "InvalidSignatureException",
                                f"credential scope must be for {SERVICE} in {REGION}")
        try:
            known = st.key()
        except (OSError, ValueError):
            return self._refuse(500, "ServerException", "cannot read the credentials file")
        if key_id != known["access_key_id"]:
            return self._refuse(403, "UnrecognizedClientException", "the security token included in the request is invalid")
        token = known.get("session_token")
        if token and self.headers.get("x-amz-security-token") != token:
            return self._refuse(403, "InvalidSignatureException", "the session token does not match")
        amz_date = self.headers.get("x-amz-date") or ""
        if not amz_date.startswith(date):
            return self._refuse(403, "InvalidSignatureException", "x-amz-date does not match the scope")
        host = self.headers.get("Host")
        request = AWSRequest(method="POST", url=f"http://{host}{self.path}", data=body,
                             headers={k: v for k, v in self.headers.items() if k.lower() != "authorization"})
        request.context["timestamp"] = amz_date
        signer = SignedHeadersOnly(
            Credentials(known["access_key_id"], known["secret_access_key"], token), signed)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, signature):
            return self._refuse(403, "InvalidSignatureException",
                                "the request signature we calculated does not match the signature you provided")
        with st.lock:
            st.signed_ok += 1
        if target != TARGET:
            return self._refuse(400, "UnknownOperationException", "only GetAuthorizationToken is served")
        password = f"public-token-{key_id}"
        expires = int(time.time()) + 12 * 3600
        return self._send(200, {"authorizationData": {
            "authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
            "expiresAt": expires,
        }})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv):
    p = argparse.ArgumentParser(prog="ecr_public_server.py", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--credentials-file", required=True)
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args(argv)
    Handler.state = State(args.credentials_file)
    server = Server(("127.0.0.1", args.port), Handler)

    stop_on_signal_or_stdin_eof(args.exit_on_stdin_eof)
    port = server.server_address[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    log(f"listening on 127.0.0.1:{port} ({datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}Z)")
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
