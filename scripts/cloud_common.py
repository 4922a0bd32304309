"""Shared parts of the Google, Entra ID and ACR test servers (gcp_server.py, entra_server.py,
acr_server.py): a threaded HTTP server on 127.0.0.1 that prints "PORT <n>" first, request
counts at /_test/stats, one log line per request on stderr (method, path, status; never a
header value, form value or token), and RS256 JWT checks with the `cryptography` package (in
the emulator venv: moto depends on it).

Not a server by itself; the scripts import it from their own directory.
"""

import argparse
import base64
import hashlib
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from loopback import stop_on_signal_or_stdin_eof


def b64url_decode(text):
    text = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class JwtError(Exception):
    """A JWT that is not one, or whose signature does not verify."""


def jwt_parts(token):
    """(header, claims, signing input, signature) of a compact JWS, unverified."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise JwtError("not three parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, TypeError) as e:
        raise JwtError(f"undecodable: {type(e).__name__}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("header or claims not an object")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


def verify_rs256(token, public_key):
    """The header and claims of `token` if it is RS256-signed by `public_key`."""
    header, claims, signing_input, signature = jwt_parts(token)
    if header.get("alg") != "RS256":
        raise JwtError("alg is not RS256")
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise JwtError("signature") from None
    return header, claims


def sign_rs256(private_key, header, claims):
    header = dict(header, alg="RS256", typ="JWT")
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def load_public_key(pem):
    return serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)


def load_private_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def sha1_b64url(der):
    return b64url(hashlib.sha1(der).digest())


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def snapshot(self):
        with self.lock:
            return dict(self.counts)


class Handler(http.server.BaseHTTPRequestHandler):
    """Base handler: subclasses define route(method, path) and use the helpers."""

    protocol_version = "HTTP/1.1"
    server_version = "registry-auth-test"
    sys_version = ""
    name = "server"
    stats = None
    clock_offset = 0

    def log_message(self, fmt, *args):
        pass

    def now(self):
        return time.time() + self.clock_offset

    def path_only(self):
        return urllib.parse.urlsplit(self.path).path

    def query(self):
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def form(self):
        return dict(urllib.parse.parse_qsl(self.body().decode("utf-8", "replace")))

    def send(self, status, body=b"", ctype="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
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
        sys.stderr.write(f"{self.name}: {self.command} {self.path_only()} -> {status}\n")
        sys.stderr.flush()

    def dispatch(self):
        path = self.path_only()
        if path == "/_test/stats":
            return self.send(200, json.dumps(self.stats.snapshot(), sort_keys=True))
        self.stats.count(path)
        self.route(self.command, path)

    do_GET = dispatch
    do_POST = dispatch
    do_PUT = dispatch
    do_HEAD = dispatch
    do_PATCH = dispatch
    do_DELETE = dispatch


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def common_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument("--clock-offset", type=int, default=0,
                   help="seconds added to this server's clock (a skewed server)")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="exit when stdin reaches EOF (the parent went away)")
    return p


def serve(handler, args, describe):
    """Binds 127.0.0.1, prints PORT, serves until SIGTERM/SIGINT (or stdin EOF)."""
    handler.stats = Stats()
    handler.clock_offset = args.clock_offset
    server = Server(("127.0.0.1", args.port), handler)

    stop_on_signal_or_stdin_eof(args.exit_on_stdin_eof)
    port = server.server_address[1]
    handler.port = port
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    sys.stderr.write(f"{handler.name}: listening on 127.0.0.1:{port} ({describe})\n")
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


def new_token(prefix):
    return prefix + secrets.token_urlsafe(24)
