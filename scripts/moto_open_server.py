#!/usr/bin/env python3
"""A second moto, with IAM checks OFF, for STS AssumeRoleWithWebIdentity.

That call is unsigned (the web identity token is the proof), and moto 5.2.5
with its IAM checks on answers any unsigned request with HTTP 500. The shared
emulator keeps its checks on (other tests run against it in parallel), so the
web identity tests run against this one instead. Run it with the emulator
venv's python:

  moto_open_server.py [--exit-on-stdin-eof]

Binds 127.0.0.1 on a free port; the first stdout line is "PORT <n>" (flushed).
It serves every moto service (STS, IAM, ECR) with checks off: anything signed
with any key is accepted, and AssumeRoleWithWebIdentity hands out credentials
for any token, without verifying it. SIGTERM or SIGINT -> exit 0; with
--exit-on-stdin-eof also when stdin reaches EOF.
"""

import argparse
import sys
import time

from moto.server import ThreadedMotoServer

from loopback import stop_on_signal_or_stdin_eof


def main(argv):
    p = argparse.ArgumentParser(prog="moto_open_server.py", description=__doc__.split("\n")[0])
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args(argv)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stop_on_signal_or_stdin_eof(args.exit_on_stdin_eof)
    _, port = server.get_host_and_port()
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    try:
        # Until a signal (or the end of stdin) raises SystemExit here. Short sleeps, as
        # serve_forever's poll: a signal raised by the stdin watcher's thread is handled only
        # when the main thread wakes.
        while True:
            time.sleep(0.5)
    except SystemExit:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
