#!/usr/bin/env python3
"""Whole-process timings of the two short-lived front ends, for scripts/bench.

Run with the emulator venv's python (it needs boto3), with the variables of
`.emulator/env` in the environment (MOTO_ENDPOINT, MOTO_PYTHON, MOTO_FIXTURE, the admin key):

  bench_processes.py --bin-dir target/release [--rounds 200] [--cold-rounds 40]

Everything listens on and talks to 127.0.0.1 only. Three parts, each interleaved round by
round with spawning /bin/true (the floor), so that a busy moment of the machine lands on every
column alike:

- warm: `docker-credential-registry-auth get` and `registry-auth kubelet` with the token and the
  configuration snapshot already on disk, at 10, 10,000 and 100,000 entries (wall time,
  CPU time and peak RSS per process, from wait4);
- cold: `get` with no disk cache, so every process calls GetAuthorizationToken, over plain
  HTTP and over HTTPS (a loopback TLS endpoint whose certificate is signed by a throwaway CA
  that the process is told to trust through SSL_CERT_FILE), beside the same call made by boto3
  in this process over the same endpoint;
- both go through a small proxy in front of moto that rewrites `expiresAt` to now + 12 h, as
  real ECR answers (moto's fixed 2015 date would be refused by any cache).

Prints Markdown tables on stdout; progress on stderr. Nothing printed holds a token.
"""

import argparse
import http.client
import http.server
import json
import os
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

ACCOUNT = "123456789012"
REGION = "us-east-1"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
RSS_RUNS = 5
SIZES = (10, 10_000, 100_000)
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "sa-east-1")
TOKEN_LIFETIME_S = 12 * 3600
GNU_TIME = "/usr/bin/time"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def say(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"bench: {name} is not set (run through scripts/bench)")
    return value


# ---------------------------------------------------------------------------------------------
# The proxy in front of moto


def make_proxy(upstream, tls_context=None):
    """A threaded HTTP(S) server on 127.0.0.1 forwarding to `upstream`; returns its URL."""
    up = urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per reply, sent at once: a reply split in two writes with Nagle on meets
        # the client's delayed ACK, a 40 ms stall that would be counted against the client.
        disable_nagle_algorithm = True
        wbufsize = 1 << 16

        def log_message(self, *args):
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            reply = conn.getresponse()
            data = reply.read()
            target = self.headers.get("X-Amz-Target") or ""
            if reply.status == 200 and target.endswith("GetAuthorizationToken"):
                doc = json.loads(data)
                for item in doc.get("authorizationData", []):
                    item["expiresAt"] = time.time() + TOKEN_LIFETIME_S - 60
                data = json.dumps(doc).encode()
            self.send_response(reply.status)
            for k, v in reply.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() not in ("server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_POST = forward
        do_GET = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"{scheme}://127.0.0.1:{server.server_address[1]}"


def make_ca(dir_):
    """A throwaway CA and a server certificate for IP 127.0.0.1 (RSA 2048, as ECR's are)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ca_key, ca = os.path.join(dir_, "ca.key"), os.path.join(dir_, "ca.pem")
    key, csr, cert = (os.path.join(dir_, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(dir_, "server.ext")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "2", "-subj", "/CN=registry-auth bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=127.0.0.1")
    with open(ext, "w", encoding="utf-8") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", ext)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ca, ctx


# ---------------------------------------------------------------------------------------------
# Fixtures


def make_user():
    with open(env("MOTO_POLICY"), encoding="utf-8") as f:
        policy = f.read()
    name = f"bench-{os.getpid()}-{int(time.time())}"
    out = subprocess.run(
        [env("MOTO_PYTHON"), env("MOTO_FIXTURE"), "user", name, "--policy-json", policy],
        check=True, capture_output=True, text=True,
    )
    user = json.loads(out.stdout)
    return user["access_key_id"], user["secret_access_key"]


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def write_config(dir_, n, key_id):
    """N entries, compact enough that 100,000 fit in the 16 MiB a configuration may have:
    account ECR hosts across regions, every fifth narrowed to a team path, served by an
    instance role; the entry that serves the measured host, an IAM user whose secret is in a
    file, is the last one."""
    rng = random.Random(n)
    parts = []
    for i in range(n - 1):
        region = REGIONS[i % len(REGIONS)]
        host = f"{200000000000 + i}.dkr.ecr.{region}.amazonaws.com"
        path = f"team-{rng.randrange(1000)}/*" if i % 5 == 4 else "*"
        parts.append(f'[[registry]]\npattern = "{host}/{path}"\n'
                     f'instance_role = {{ role_name = "Worker", region = "{region}" }}\n')
    parts.append(f'[[registry]]\npattern = "{HOST}/*"\niam_user = {{ access_key_id = '
                 f'"{key_id}", secret_access_key = {{ file = "secret.txt" }}, '
                 f'region = "{REGION}" }}\n')
    path = os.path.join(dir_, "registries.toml")
    write_private(path, "".join(parts))
    return path


# ---------------------------------------------------------------------------------------------
# Running one process


def run(argv, environ, stdin):
    """Runs argv to completion; returns (wall s, cpu s, peak RSS KiB, exit code, stdout)."""
    started = time.perf_counter()
    p = subprocess.Popen(argv, env=environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(stdin)
    p.stdin.close()
    out = p.stdout.read()
    p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - started
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stdout.close()
    p.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, p.returncode, out


class Case:
    def __init__(self, label, argv, environ, stdin, check):
        self.label, self.argv, self.environ, self.stdin, self.check = (
            label, argv, environ, stdin, check)
        self.wall, self.cpu, self.rss = [], [], []

    def once(self, record=True):
        wall, cpu, _, code, out = run(self.argv, self.environ, self.stdin)
        if code != 0 or not self.check(out):
            sys.exit(f"bench: {self.label} failed (exit {code})")
        if record:
            self.wall.append(wall)
            self.cpu.append(cpu)

    def measure_rss(self, runs, out_file):
        """Peak RSS from GNU time, a small C program, as the parent: a child of this Python
        process would report this process's RSS (the kernel keeps the high-water mark of the
        image that called exec)."""
        for _ in range(runs):
            argv = [GNU_TIME, "-f", "%M", "-o", out_file, *self.argv]
            _, _, _, code, out = run(argv, self.environ, self.stdin)
            if code != 0 or not self.check(out):
                sys.exit(f"bench: {self.label} failed under {GNU_TIME} (exit {code})")
            with open(out_file, encoding="utf-8") as f:
                self.rss.append(int(f.read().split()[-1]))

    def median_ms(self, xs):
        return statistics.median(xs) * 1000


class Call:
    """An in-process call timed like a case (wall and CPU of this process; no RSS)."""

    def __init__(self, label, fn):
        self.label, self.fn = label, fn
        self.wall, self.cpu, self.rss = [], [], []

    def once(self, record=True):
        c0, t0 = time.process_time(), time.perf_counter()
        self.fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if record:
            self.wall.append(wall)
            self.cpu.append(cpu)

    median_ms = Case.median_ms


def interleave(cases, rounds):
    for case in cases:  # once each, unrecorded: page cache, snapshot and token warm
        case.once(record=False)
    for r in range(rounds):
        order = list(cases)
        random.Random(r).shuffle(order)
        for case in order:
            case.once()


def ms(x):
    return f"{x:.2f} ms" if x < 100 else f"{x:,.0f} ms"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--cold-rounds", type=int, default=40)
    args = ap.parse_args()

    helper = os.path.abspath(os.path.join(args.bin_dir, "docker-credential-registry-auth"))
    cli = os.path.abspath(os.path.join(args.bin_dir, "registry-auth"))
    true = "/bin/true"
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"bench: {GNU_TIME} (Debian's `time` package) is needed for peak RSS")
    work = tempfile.mkdtemp(prefix="registry-auth-bench-")
    os.chmod(work, 0o700)
    try:
        key_id, secret = make_user()
        ca, tls = make_ca(work)
        moto = env("MOTO_ENDPOINT")
        http_proxy = make_proxy(moto)
        https_proxy = make_proxy(moto, tls)

        def base_env(home, endpoint):
            return {
                "PATH": "/usr/bin:/bin",
                "HOME": home,
                "XDG_CACHE_HOME": os.path.join(home, "cache"),
                "REGISTRY_AUTH_CONFIG": os.path.join(home, "registries.toml"),
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_EC2_METADATA_DISABLED": "true",
            }

        def is_docker_reply(out):
            return b'"Secret"' in out

        def is_kubelet_reply(out):
            return b'"password"' in out

        floor = Case("/bin/true", [true], {"PATH": "/usr/bin:/bin"}, b"", lambda out: True)

        # -- warm -----------------------------------------------------------------------------
        warm = [floor]
        for n in SIZES:
            home = os.path.join(work, f"warm-{n}")
            os.makedirs(home, mode=0o700)
            write_private(os.path.join(home, "secret.txt"), secret)
            say(f"writing a configuration of {n:,} entries")
            write_config(home, n, key_id)
            environ = base_env(home, http_proxy)
            request = json.dumps({
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                "kind": "CredentialProviderRequest",
                "image": f"{HOST}/team/app:v1",
            }).encode()
            warm.append(Case(f"get {n}", [helper, "get"], environ, HOST.encode() + b"\n",
                             is_docker_reply))
            warm.append(Case(f"kubelet {n}", [cli, "kubelet"], environ, request,
                             is_kubelet_reply))
        say(f"warm: {args.rounds} interleaved rounds of {len(warm)} processes")
        # The first call of each case fetches the token and builds the snapshot; the
        # unrecorded warm-up in interleave() does it.
        interleave(warm, args.rounds)
        say(f"warm: peak RSS, {RSS_RUNS} runs each under {GNU_TIME}")
        for case in warm:
            case.measure_rss(RSS_RUNS, os.path.join(work, "rss"))

        # -- cold -----------------------------------------------------------------------------
        import boto3
        import botocore.config

        home = os.path.join(work, "cold")
        os.makedirs(home, mode=0o700)
        write_private(os.path.join(home, "secret.txt"), secret)
        write_config(home, 10, key_id)
        cold_http = dict(base_env(home, http_proxy), REGISTRY_AUTH_NO_DISK_CACHE="1")
        # Trusting the test CA: beside the system's roots (a bundle of both, as a user with a
        # private CA would give), and alone (the handshake without loading the system's roots).
        bundle = os.path.join(work, "bundle.pem")
        with open(bundle, "w", encoding="utf-8") as out:
            for part in (SYSTEM_BUNDLE, ca):
                with open(part, encoding="utf-8") as f:
                    out.write(f.read())
        cold_https = dict(base_env(home, https_proxy), REGISTRY_AUTH_NO_DISK_CACHE="1",
                          SSL_CERT_FILE=bundle)
        cold_https_ca = dict(cold_https, SSL_CERT_FILE=ca)
        cold_http_ca = dict(cold_http, SSL_CERT_FILE=ca)

        def boto3_call(endpoint, verify):
            client = boto3.client(
                "ecr", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key_id,
                aws_secret_access_key=secret, verify=verify,
                config=botocore.config.Config(retries={"max_attempts": 1}))

            def call():
                # The same request body the helper sends.
                reply = client.get_authorization_token(registryIds=[ACCOUNT])
                data = reply["authorizationData"]
                assert data and data[0]["authorizationToken"]
            return call

        get = [helper, "get"]
        asked = HOST.encode() + b"\n"
        cold = [
            Case("/bin/true", [true], {"PATH": "/usr/bin:/bin"}, b"", lambda out: True),
            Case("cold get http", get, cold_http, asked, is_docker_reply),
            Case("cold get http ca", get, cold_http_ca, asked, is_docker_reply),
            Call("boto3 http", boto3_call(http_proxy, None)),
            Case("cold get https", get, cold_https, asked, is_docker_reply),
            Case("cold get https ca", get, cold_https_ca, asked, is_docker_reply),
            Call("boto3 https", boto3_call(https_proxy, ca)),
        ]
        say(f"cold: {args.cold_rounds} interleaved rounds of {len(cold)}")
        interleave(cold, args.cold_rounds)
        for case in cold:
            if isinstance(case, Case):
                case.measure_rss(RSS_RUNS, os.path.join(work, "rss"))

        report(warm, cold, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(warm, cold, args):
    by = {c.label: c for c in warm}
    f_wall = by["/bin/true"].median_ms(by["/bin/true"].wall)
    f_rss = max(by["/bin/true"].rss)
    print(f"### Warm token, whole processes ({args.rounds} interleaved rounds, medians)\n")
    print(f"Floor: spawning `/bin/true` from the same driver: {ms(f_wall)} wall, "
          f"{mib(f_rss)} peak RSS (the largest of {RSS_RUNS} runs under GNU time, as for "
          f"every peak RSS here).\n")
    print("| entries | process | wall | above the floor | CPU | peak RSS |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in SIZES:
        for kind, name in (("get", "`docker-credential-registry-auth get`"),
                           ("kubelet", "`registry-auth kubelet`")):
            c = by[f"{kind} {n}"]
            wall = c.median_ms(c.wall)
            print(f"| {n:,} | {name} | {ms(wall)} | {ms(wall - f_wall)} | "
                  f"{ms(c.median_ms(c.cpu))} | {mib(max(c.rss))} |")
    print()
    by = {c.label: c for c in cold}
    f_wall = by["/bin/true"].median_ms(by["/bin/true"].wall)
    f_cpu = by["/bin/true"].median_ms(by["/bin/true"].cpu)
    print(f"### Cold token: one GetAuthorizationToken per process "
          f"({args.cold_rounds} interleaved rounds, medians)\n")
    print(f"Floor: `/bin/true`: {ms(f_wall)} wall, {ms(f_cpu)} CPU.\n")
    print("| what | wall | CPU | peak RSS |")
    print("|---|---:|---:|---:|")
    rows = [
        ("cold get http", "`get`, HTTP; `SSL_CERT_FILE` unset (the default)"),
        ("cold get http ca", "`get`, HTTP; `SSL_CERT_FILE` = the test CA alone"),
        ("boto3 http", "boto3 `get_authorization_token`, HTTP, in process"),
        ("cold get https", "`get`, HTTPS; `SSL_CERT_FILE` = the system's bundle + the test CA"),
        ("cold get https ca", "`get`, HTTPS; `SSL_CERT_FILE` = the test CA alone"),
        ("boto3 https", "boto3 `get_authorization_token`, HTTPS, in process"),
    ]
    for label, name in rows:
        c = by.get(label)
        if c is None:
            continue
        rss = mib(max(c.rss)) if c.rss else "—"
        print(f"| {name} | {ms(c.median_ms(c.wall))} | {ms(c.median_ms(c.cpu))} | {rss} |")
    ratio = by["cold get http"].median_ms(by["cold get http"].wall) / by["boto3 http"].median_ms(
        by["boto3 http"].wall)
    print(f"\nCold `get` over HTTP ÷ boto3's round trip: {ratio:.2f}×.")
    for a, b, what in (("cold get http", "cold get http ca", "HTTP"),
                       ("cold get https", "cold get https ca", "HTTPS")):
        extra = by[a].median_ms(by[a].cpu) - by[b].median_ms(by[b].cpu)
        print(f"CPU spent loading the roots of the first row beside the test CA alone, "
              f"{what}: {extra:.2f} ms.")


if __name__ == "__main__":
    main()
