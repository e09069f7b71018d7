"""A real HTTP receiver on loopback for webhook tests: records every request, can fail on purpose."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.down = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.attempts += 1
                    failing = receiver.down or receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.received.append({"headers": dict(self.headers), "body": body,
                                                  "event": json.loads(body), "at": time.time()})
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
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

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
