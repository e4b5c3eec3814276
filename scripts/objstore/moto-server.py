"""moto's S3 server for scripts/objstore-harness, keeping every write it
acknowledged across a stop and start.

usage: python moto-server.py HOST PORT DATA_DIR

moto keeps objects in memory only, so they are saved to DATA_DIR/snapshot
when the server stops (SIGTERM or SIGINT) and `setup.py ... load` puts them
back after a start. Saving by listing a server that still takes writes
loses any write acknowledged after its key was listed (CI saw it once), so
the stop goes in this order:
  1. the gate closes: every request arriving from now on is answered 503
     (a retryable failure, nothing acknowledged);
  2. the requests already inside moto finish (their changes are in moto's
     memory before their answer leaves);
  3. the objects are saved, by requests only the saver can make (a header
     carrying a token made at start), and the snapshot is renamed into
     place whole;
  4. the server stops listening and exits.
So every write answered 200 is in the snapshot. A failed save leaves
DATA_DIR/save-failed (with the error) for the harness to report.
"""
import os
import secrets
import signal
import sys
import threading
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import setup  # noqa: E402  (this folder's setup.py: the snapshot format)

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

SAVER_HEADER = "X-Slimbox-Harness-Saver"
# How long the requests already inside moto may take to finish.
DRAIN_SECONDS = 60


class Gate:
    """WSGI middleware: counts requests inside moto; once closed, turns
    away every request but the saver's."""

    def __init__(self, app, token):
        self.app = app
        self.token = token
        self.cond = threading.Condition()
        self.inside = 0
        self.closed = False

    def __call__(self, environ, start_response):
        saver = environ.get("HTTP_" + SAVER_HEADER.upper().replace("-", "_")) == self.token
        with self.cond:
            if self.closed and not saver:
                start_response(
                    "503 Service Unavailable",
                    [("Content-Length", "0"), ("Connection", "close"), ("Retry-After", "1")],
                )
                return [b""]
            self.inside += 1
        try:
            body = self.app(environ, start_response)
            try:
                # The whole answer is made here, inside the count.
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close:
                    close()
        finally:
            with self.cond:
                self.inside -= 1
                self.cond.notify_all()

    def close_and_drain(self):
        with self.cond:
            self.closed = True
            if not self.cond.wait_for(lambda: self.inside == 0, timeout=DRAIN_SECONDS):
                raise RuntimeError(f"{self.inside} requests still inside moto after {DRAIN_SECONDS}s")


def main():
    host, port, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.environ.setdefault("MOTO_PORT", str(port))
    token = secrets.token_hex(16)
    gate = Gate(DomainDispatcherApplication(create_backend_app), token)
    server = make_server(host, port, gate, threaded=True, request_handler=MotoRequestHandler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"moto-server: listening on {host}:{port}", flush=True)
    while not stop.wait(0.2):
        pass
    failed = os.path.join(data, "save-failed")
    try:
        os.remove(failed)
    except FileNotFoundError:
        pass
    status = 0
    try:
        gate.close_and_drain()
        setup.s3_save(f"http://{host}:{port}", data, headers={SAVER_HEADER: token})
        print("moto-server: objects saved, stopping", flush=True)
    except Exception:
        status = 1
        traceback.print_exc()
        with open(failed, "w") as f:
            f.write(traceback.format_exc())
    # The listening socket is closed here, before the exit: a process whose
    # main thread has exited (a zombie to the harness) may still hold it
    # for a moment while its other threads go.
    server.shutdown()
    server.server_close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Keep-alive connections hold daemon threads: leave without waiting.
    os._exit(status)


if __name__ == "__main__":
    main()
