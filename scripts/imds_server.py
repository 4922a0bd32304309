#!/usr/bin/env python3
"""IMDSv2 test server standing in for EC2 instance metadata (stdlib only).

moto's own IMDS answers only for "default-role" and omits the
x-aws-ec2-metadata-token-ttl-seconds header that the Rust SDK requires, so the
registry-auth tests use this instead, serving real moto STS credentials.

  imds_server.py --port 0 --role ROLE --credentials-file F [--region R]
                 [--exit-on-stdin-eof]

Binds 127.0.0.1 only. The first stdout line is "PORT <n>" (flushed). F is JSON
like the output of `moto_fixture.py assume-role`
({"access_key_id","secret_access_key","session_token","expiration"}; the IMDS
names AccessKeyId/SecretAccessKey/Token/Expiration are accepted too). F is
re-read on every credentials request, so a test can rotate credentials by
replacing it (write a temp file and rename it over F).

Serves what aws-config 1.13 ImdsCredentialsProvider asks for:
  PUT /latest/api/token   needs x-aws-ec2-metadata-token-ttl-seconds: N (1..21600)
                          -> 200, a random token, the same TTL header; else 400
  GET (all below) need x-aws-ec2-metadata-token: an issued, unexpired token; else 401
  GET /latest/meta-data/iam/security-credentials/        -> ROLE
  GET /latest/meta-data/iam/security-credentials/ROLE    -> credentials JSON
  GET /latest/meta-data/iam/security-credentials/OTHER   -> 404
  GET /latest/meta-data/iam/info                         -> InstanceProfileArn JSON
  GET /latest/meta-data/placement/region                 -> R (default us-east-1)
  anything else                                          -> 404
Test hooks (no token needed, not counted):
  GET  /_test/stats   -> {"<path>": count, ...} for every request so far (any method,
                         any status, 401s and 404s included; query strings dropped)
  POST /_test/reset   -> zero the counts
One log line per request on stderr (method, path, status; never a token or key).
SIGTERM or SIGINT -> exit 0. With --exit-on-stdin-eof it also exits when its
stdin reaches EOF (spawn it with a piped stdin: it then dies with the test).
"""

import argparse
import datetime
import http.server
import json
import secrets
import sys
import threading
import time

from loopback import stop_on_signal_or_stdin_eof

TOKEN_PATH = "/latest/api/token"
CREDS_PREFIX = "/latest/meta-data/iam/security-credentials/"
INFO_PATH = "/latest/meta-data/iam/info"
REGION_PATH = "/latest/meta-data/placement/region"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
MAX_TTL = 21600
ACCOUNT_ID = "123456789012"


def utc_now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log(msg):
    sys.stderr.write(f"imds_server: {msg}\n")
    sys.stderr.flush()


class State:
    def __init__(self, role, credentials_file, region):
        self.role = role
        self.credentials_file = credentials_file
        self.region = region
        self.lock = threading.Lock()
        self.tokens = {}  # token -> monotonic expiry
        self.counts = {}

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def stats(self):
        with self.lock:
            return dict(self.counts)

    def reset(self):
        with self.lock:
            self.counts.clear()

    def issue(self, ttl):
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self.lock:
            self.tokens = {t: e for t, e in self.tokens.items() if e > now}
            self.tokens[token] = now + ttl
        return token

    def valid(self, token):
        if not token:
            return False
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    def credentials(self):
        with open(self.credentials_file, encoding="utf-8") as f:
            doc = json.load(f)

        def pick(*names):
            for n in names:
                if doc.get(n):
                    return doc[n]
            raise KeyError(names[0])

        return {
            "Code": "Success",
            "LastUpdated": utc_now_iso(),
            "Type": "AWS-HMAC",
            "AccessKeyId": pick("access_key_id", "AccessKeyId"),
            "SecretAccessKey": pick("secret_access_key", "SecretAccessKey"),
            "Token": pick("session_token", "Token", "SessionToken"),
            "Expiration": pick("expiration", "Expiration"),
        }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"
    sys_version = ""
    state = None  # set in main

    def log_message(self, fmt, *args):  # silence the default access log
        pass

    def _path(self):
        return self.path.split("?", 1)[0]

    def _drain(self):
        length = self.headers.get("Content-Length")
        if length:
            try:
                n = int(length)
            except ValueError:
                n = 0
            if n > 0:
                self.rfile.read(n)

    def _send(self, status, body=b"", ctype="text/plain", extra=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log(f"{self.command} {self._path()} -> {status}")

    def _count(self):
        self.state.count(self._path())

    def do_PUT(self):
        self._drain()
        path = self._path()
        self._count()
        if path != TOKEN_PATH:
            return self._send(405 if path.startswith("/latest/") else 404)
        raw = self.headers.get(TTL_HEADER)
        try:
            ttl = int(raw) if raw is not None else None
        except ValueError:
            ttl = None
        if ttl is None or not 1 <= ttl <= MAX_TTL:
            return self._send(400)
        token = self.state.issue(ttl)
        self._send(200, token, extra={TTL_HEADER: str(ttl)})

    def do_POST(self):
        self._drain()
        if self._path() == "/_test/reset":
            self.state.reset()
            return self._send(200, "{}", "application/json")
        self._count()
        self._send(405)

    def do_GET(self):
        self._drain()
        path = self._path()
        st = self.state
        if path == "/_test/stats":
            return self._send(200, json.dumps(st.stats(), sort_keys=True), "application/json")
        self._count()
        if not st.valid(self.headers.get(TOKEN_HEADER)):
            return self._send(401)
        if path == CREDS_PREFIX:
            return self._send(200, st.role)
        if path.startswith(CREDS_PREFIX):
            name = path[len(CREDS_PREFIX):]
            if name != st.role:
                return self._send(404)
            try:
                creds = st.credentials()
            except (OSError, ValueError, KeyError) as e:
                log(f"cannot read credentials file: {type(e).__name__}")
                return self._send(500)
            return self._send(200, json.dumps(creds, indent=2))
        if path == INFO_PATH:
            info = {
                "Code": "Success",
                "LastUpdated": utc_now_iso(),
                "InstanceProfileArn": f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/{st.role}",
                "InstanceProfileId": "AIPAEXAMPLEINSTANCEPROF",
            }
            return self._send(200, json.dumps(info, indent=2))
        if path == REGION_PATH:
            return self._send(200, st.region)
        return self._send(404)

    do_HEAD = do_GET


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv):
    p = argparse.ArgumentParser(prog="imds_server.py", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument("--role", required=True, help="the instance role name")
    p.add_argument("--credentials-file", required=True, help="JSON credentials, re-read per request")
    p.add_argument("--region", default="us-east-1", help="answer for placement/region")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="exit when stdin reaches EOF (the parent went away)")
    args = p.parse_args(argv)

    Handler.state = State(args.role, args.credentials_file, args.region)
    server = Server(("127.0.0.1", args.port), Handler)

    stop_on_signal_or_stdin_eof(
        args.exit_on_stdin_eof, on_stdin_eof=lambda: log("stdin closed; exiting")
    )

    port = server.server_address[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    log(f"listening on 127.0.0.1:{port} for role {args.role}")
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
