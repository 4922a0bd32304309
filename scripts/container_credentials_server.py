#!/usr/bin/env python3
"""ECS/EKS container-credentials test server (stdlib only): what
AWS_CONTAINER_CREDENTIALS_FULL_URI points at in an ECS task or under EKS Pod
Identity, serving real moto STS credentials.

  container_credentials_server.py --port 0 --credentials-file F --token-file T
                                  [--exit-on-stdin-eof]

Binds 127.0.0.1 only (aws-config accepts a FULL_URI on loopback). The first
stdout line is "PORT <n>" (flushed). F is JSON like `moto_fixture.py
assume-role` prints ({"access_key_id","secret_access_key","session_token",
"expiration"}); T holds the authorization token the client must send, as
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE gives it. Both are re-read per request.

  GET /credentials with Authorization: <token in T>
      -> 200 {"AccessKeyId","SecretAccessKey","Token","Expiration","RoleArn"}
  the same without Authorization, or with another token -> 401
  any other path -> 404
Test hooks: GET /_test/stats -> {"ok": n, "unauthorized": n} (not counted).
One log line per request on stderr (never a token or key). SIGTERM or SIGINT
-> exit 0; with --exit-on-stdin-eof also when stdin reaches EOF.
"""

import argparse
import hmac
import http.server
import json
import sys
import threading

from loopback import stop_on_signal_or_stdin_eof

PATH = "/credentials"


def log(msg):
    sys.stderr.write(f"container_credentials_server: {msg}\n")
    sys.stderr.flush()


class State:
    def __init__(self, credentials_file, token_file):
        self.credentials_file = credentials_file
        self.token_file = token_file
        self.lock = threading.Lock()
        self.ok = 0
        self.unauthorized = 0


class Handler(http.server.BaseHTTPRequestHandler):
    state = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        log(f"GET {self.path} -> {status}")

    def do_GET(self):
        st = self.state
        if self.path == "/_test/stats":
            with st.lock:
                return self._send(200, {"ok": st.ok, "unauthorized": st.unauthorized})
        if self.path != PATH:
            return self._send(404, {"message": "not found"})
        with open(st.token_file) as f:
            expected = f.read().strip()
        given = self.headers.get("Authorization") or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            with st.lock:
                st.unauthorized += 1
            return self._send(401, {"message": "wrong or missing authorization token"})
        with open(st.credentials_file) as f:
            c = json.load(f)
        with st.lock:
            st.ok += 1
        return self._send(200, {
            "AccessKeyId": c["access_key_id"],
            "SecretAccessKey": c["secret_access_key"],
            "Token": c["session_token"],
            "Expiration": c["expiration"],
            "RoleArn": c.get("role_arn", "arn:aws:iam::123456789012:role/task"),
        })


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv):
    p = argparse.ArgumentParser(prog="container_credentials_server.py",
                                description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--credentials-file", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args(argv)
    Handler.state = State(args.credentials_file, args.token_file)
    server = Server(("127.0.0.1", args.port), Handler)

    stop_on_signal_or_stdin_eof(args.exit_on_stdin_eof)
    port = server.server_address[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
