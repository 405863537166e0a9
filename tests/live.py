"""A live server for tests that need real HTTP: concurrency tests and the browser tests.

The app runs on a threaded werkzeug server on a free 127.0.0.1 port. On the way out the
server stops and joins every request thread (including mail sent after a response), so
nothing still writes when the ``app`` fixture empties the tables.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

TIMEOUT = 60


class QuietHandler(WSGIRequestHandler):
    """No access log lines for the many requests."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    server.daemon_threads = False  # server_close() then waits for every request thread
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def request(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
            ) -> tuple[int, bytes]:
    """GET (or POST ``data`` to) our own live server; (status, body) for any status."""
    assert url.startswith("http://127.0.0.1:")
    req = urllib.request.Request(url, data=data, headers=headers or {},  # noqa: S310
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def all_at_once(calls: list[Callable[[], tuple[int, bytes]]]) -> list[tuple[int, bytes]]:
    """Run every call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)

    def run(call: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls, timeout=TIMEOUT * 2))
