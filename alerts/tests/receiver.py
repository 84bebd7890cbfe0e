"""A real HTTP receiver on 127.0.0.1 for delivery tests: answers with scripted status codes,
or hangs; records every request it got."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    port: int
    codes: list[int] = field(default_factory=list)  # answered in order; then 200
    hang_seconds: float = 0.0
    requests: list[Received] = field(default_factory=list)


@contextmanager
def receiver(*, codes: list[int] | None = None, hang_seconds: float = 0.0) -> Iterator[Receiver]:
    state = Receiver(url="", port=0, codes=list(codes or []), hang_seconds=hang_seconds)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
                code = state.codes.pop(0) if state.codes else 200
            if state.hang_seconds:
                time.sleep(state.hang_seconds)
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")
            except OSError:
                pass  # the client gave up (timed out)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
