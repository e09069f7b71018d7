"""A real HTTP receiver on loopback for webhook tests: records every request, can fail on purpose, hold
requests until released, or answer with a redirect."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, fail_first: int = 0, redirect_to: str | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived: list[int] = []  # seq of every request as it arrives (held ones included)
        self.attempts = 0
        self.fail_first = fail_first
        self.down = False
        self.redirect_to = redirect_to
        self.hold = False  # when set, a request waits until its seq is released (or everything is)
        self.released: set[int] = set()
        self.release_all = threading.Event()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event = json.loads(body)
                with receiver.changed:
                    receiver.arrived.append(event["seq"])
                    receiver.changed.notify_all()
                    while receiver.hold and event["seq"] not in receiver.released \
                            and not receiver.release_all.is_set():
                        receiver.changed.wait(0.05)
                    receiver.attempts += 1
                    failing = receiver.down or receiver.attempts <= receiver.fail_first
                    if not failing and not receiver.redirect_to:
                        receiver.received.append({"headers": dict(self.headers), "body": body, "event": event,
                                                  "at": time.time()})
                if receiver.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                else:
                    self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                with contextlib.suppress(OSError):  # the sender may be gone (a killed worker)
                    self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def seqs(self) -> list[int]:
        with self.lock:
            return [r["event"]["seq"] for r in self.received]

    def wait_for(self, count: int, timeout: float = 60) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.seqs()) >= count:
                return self.seqs()
            time.sleep(0.05)
        raise AssertionError(f"received {len(self.seqs())} of {count}: {self.seqs()}")

    def wait_arrived(self, count: int, timeout: float = 60) -> list[int]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.arrived) < count:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{len(self.arrived)} of {count} requests arrived")
                self.changed.wait(0.05)
            return list(self.arrived)

    def release(self, *seqs: int) -> None:
        with self.changed:
            self.released.update(seqs)
            self.changed.notify_all()

    def close(self) -> None:
        self.release_all.set()
        self.server.shutdown()
        self.server.server_close()
