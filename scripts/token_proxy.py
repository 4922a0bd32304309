#!/usr/bin/env python3
"""A registry token service in front of a password-checking registry (stdlib only).

Registries such as Docker Hub, GHCR and Harbor do not take a password on each request: they
answer 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, and the client
gets a token from the realm with its password, then asks again with `Authorization: Bearer`.
This server speaks that flow in front of Debian's docker-registry (scripts/registry), so the
flow is tested against a registry that really checks the password and really holds the
manifests.

  token_proxy.py --upstream 127.0.0.1:PORT [--deny REPOSITORY ...] [--port 0]
                 [--exit-on-stdin-eof]

Binds 127.0.0.1 only. The first stdout line is "PORT <n>" (flushed).

  GET /token?service=token-proxy&scope=repository:NAME:pull
      with Authorization: Basic -> the credentials are checked by the upstream registry
      (GET /v2/ with them): 200 {"token", "access_token", "expires_in"} granting pull on
      NAME (nothing when NAME is --deny'd); wrong or missing credentials -> 401
  /v2/... (GET, HEAD)
      with a token this server issued that grants the path's repository -> forwarded to
      the upstream with the credentials the token was issued for; status, content type,
      Docker-Content-Digest and body come back
      without one -> 401 and the Bearer challenge; with a token that does not grant the
      repository -> 401 and the challenge with error="insufficient_scope", as Docker Hub
      answers for a repository one may not pull
Test hooks (not counted):
  GET /_test/stats -> {"token": n, "token_refused": n, "registry": n}
One log line per request on stderr (method, path, status; never a credential or token).
SIGTERM or SIGINT -> exit 0. With --exit-on-stdin-eof it also exits when its stdin reaches
EOF (spawn it with a piped stdin: it then dies with the test).
"""

import argparse
import http.client
import http.server
import json
import re
import secrets
import signal
import sys
import threading
import urllib.parse

REPO_PATH = re.compile(r"^/v2/(.+)/(manifests|tags|blobs)/")


def log(msg):
    sys.stderr.write(f"token_proxy: {msg}\n")
    sys.stderr.flush()


class State:
    def __init__(self, upstream, denied):
        self.upstream = upstream
        self.denied = set(denied)
        self.lock = threading.Lock()
        self.tokens = {}  # token -> (basic authorization header, granted repositories)
        self.counts = {"token": 0, "token_refused": 0, "registry": 0}
        self.port = 0

    def count(self, key):
        with self.lock:
            self.counts[key] += 1

    def upstream_request(self, method, path, headers):
        conn = http.client.HTTPConnection(self.upstream, timeout=10)
        try:
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            body = resp.read() if method != "HEAD" else b""
            return resp.status, resp.getheaders(), body
        finally:
            conn.close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "token-proxy"

    def log_message(self, fmt, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log(f"{self.command} {self.path.split('?')[0]} {status}")

    def challenge(self, repo, insufficient=False):
        value = (
            f'Bearer realm="http://127.0.0.1:{self.state.port}/token",'
            f'service="token-proxy"'
        )
        if repo:
            value += f',scope="repository:{repo}:pull"'
        if insufficient:
            value += ',error="insufficient_scope"'
        body = json.dumps({"errors": [{"code": "UNAUTHORIZED"}]}).encode()
        self.reply(401, body, [("WWW-Authenticate", value), ("Content-Type", "application/json")])

    def do_GET(self):
        self.handle_any()

    def do_HEAD(self):
        self.handle_any()

    def handle_any(self):
        path = self.path
        if path == "/_test/stats":
            with self.state.lock:
                body = json.dumps(self.state.counts).encode()
            self.reply(200, body, [("Content-Type", "application/json")])
            return
        if path.startswith("/token"):
            self.token()
            return
        if path.startswith("/v2/"):
            self.registry()
            return
        self.reply(404)

    def token(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            self.state.count("token_refused")
            self.reply(401, b'{"details":"credentials required"}', [("Content-Type", "application/json")])
            return
        status, _, _ = self.state.upstream_request("GET", "/v2/", {"Authorization": auth})
        if status != 200:
            self.state.count("token_refused")
            self.reply(401, b'{"details":"incorrect username or password"}', [("Content-Type", "application/json")])
            return
        granted = set()
        for scope in query.get("scope", []):
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository" and "pull" in parts[2].split(","):
                if parts[1] not in self.state.denied:
                    granted.add(parts[1])
        token = secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.tokens[token] = (auth, granted)
        self.state.count("token")
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.reply(200, body, [("Content-Type", "application/json")])

    def registry(self):
        self.state.count("registry")
        m = REPO_PATH.match(self.path)
        repo = m.group(1) if m else None
        auth = self.headers.get("Authorization", "")
        issued = None
        if auth.startswith("Bearer "):
            with self.state.lock:
                issued = self.state.tokens.get(auth[len("Bearer "):])
        if issued is None:
            self.challenge(repo)
            return
        basic, granted = issued
        if repo is not None and repo not in granted:
            self.challenge(repo, insufficient=True)
            return
        headers = {"Authorization": basic}
        if self.headers.get("Accept"):
            headers["Accept"] = self.headers["Accept"]
        status, upstream_headers, body = self.state.upstream_request(
            self.command, self.path, headers
        )
        keep = []
        length = None
        for k, v in upstream_headers:
            if k.lower() in ("content-type", "docker-content-digest"):
                keep.append((k, v))
            if k.lower() == "content-length":
                length = v
        if self.command == "HEAD":
            self.send_response(status)
            for k, v in keep:
                self.send_header(k, v)
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            log(f"HEAD {self.path.split('?')[0]} {status}")
            return
        self.reply(status, body, keep)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main(argv):
    p = argparse.ArgumentParser(prog="token_proxy.py")
    p.add_argument("--upstream", required=True, help="HOST:PORT of the registry")
    p.add_argument("--deny", action="append", default=[], help="a repository no token grants")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args(argv)

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.upstream, args.deny)
    server.state.port = server.server_address[1]
    print(f"PORT {server.state.port}", flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read(1):
                    pass
            except OSError:
                pass
            stop()

        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
