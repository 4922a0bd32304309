"""What the loopback test servers share: how they stop.

SIGTERM and SIGINT raise SystemExit in the main thread, which ends `serve_forever` there; with
`exit_on_stdin_eof`, so does the end of stdin, so that a server whose parent (a test) went away
without stopping it does not outlive it.
"""

import signal
import sys
import threading


def stop_on_signal_or_stdin_eof(exit_on_stdin_eof, on_stdin_eof=None):
    def on_signal(signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if exit_on_stdin_eof:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except OSError:
                pass
            if on_stdin_eof is not None:
                on_stdin_eof()
            # Interrupt serve_forever in the main thread.
            signal.raise_signal(signal.SIGTERM)

        threading.Thread(target=watch_stdin, daemon=True).start()
