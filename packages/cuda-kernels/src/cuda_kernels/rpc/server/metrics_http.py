"""The HTTP endpoint of the metrics: prometheus-client's WSGI app on a small threaded WSGI
server that caps its connections, closes idle ones and answers only `/metrics`.

Why not `prometheus_client.start_http_server`: it gives every connection a thread for as
long as the client keeps it open, with no timeout and no cap (300 idle connections held
300 threads and descriptors), and it answers on any path. Here:

- at most `metrics_max_connections` connections are served at once; one more gets
  `503 Service Unavailable` and is closed at once, costing no thread;
- at most `metrics_per_second` requests a second on average (bursts of as many): past that a
  connection gets `429 Too Many Requests` and is closed at once. A flood of scrapes (990 a
  second) had made small calls 3 times slower: each scrape costs a thread and the GIL;
  a refusal costs neither;
- a connection that sends nothing for `metrics_idle_seconds` is closed (the socket's timeout);
- `/metrics` (with or without a query) is answered; any other path is `404 Not Found`;
- nothing is logged per request (a scrape every few seconds is not news).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app

if TYPE_CHECKING:
    from cuda_kernels.rpc.server.config import ServerConfig

METRICS_PATH = "/metrics"


def _refusal(status: str, text: str) -> bytes:
    body = f"{text}\n".encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        f"Retry-After: 1\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


_BUSY = _refusal("503 Service Unavailable", "too many metrics connections; retry later")
_TOO_OFTEN = _refusal("429 Too Many Requests", "too many metrics requests; retry later")


def metrics_app(registry: CollectorRegistry) -> Callable:
    """prometheus-client's WSGI app for `registry`, on `/metrics` only (404 elsewhere)."""
    app = make_wsgi_app(registry)

    def only_metrics(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"not found; the metrics are at {METRICS_PATH}\n".encode()]
        return app(environ, start_response)

    return only_metrics


class _QuietHandler(WSGIRequestHandler):
    """One request per connection (HTTP/1.0 style) and no access log; a client that stays
    silent past the socket's timeout is simply closed (`process_request_thread`)."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class MetricsHTTPServer(ThreadingMixIn, WSGIServer):
    """A thread per connection, at most `metrics_max_connections` of them (see the module
    docstring); `serve_forever` runs on a daemon thread started by `start`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config: ServerConfig, registry: CollectorRegistry) -> None:
        if ":" in config.metrics_host:
            self.address_family = socket.AF_INET6
        handler = type("Handler", (_QuietHandler,), {"timeout": config.metrics_idle_seconds})
        super().__init__((config.metrics_host, config.metrics_port), handler)
        self.set_app(metrics_app(registry))
        self._slots = threading.BoundedSemaphore(config.metrics_max_connections)
        self._bucket = _TokenBucket(config.metrics_per_second)

    def start(self) -> MetricsHTTPServer:
        threading.Thread(target=self.serve_forever, name="metrics-http", daemon=True).start()
        return self

    def process_request(self, request: socket.socket, client_address: object) -> None:
        if not self._bucket.take():
            self._refuse(request, _TOO_OFTEN)
        elif self._slots.acquire(blocking=False):
            super().process_request(request, client_address)
        else:
            self._refuse(request, _BUSY)

    def _refuse(self, request: socket.socket, answer: bytes) -> None:
        """Answer and close on the accepting thread, without reading the request."""
        with contextlib.suppress(OSError):  # MSG_DONTWAIT: never blocks the accept loop
            request.send(answer, socket.MSG_DONTWAIT)
        self.shutdown_request(request)

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:
        """Serve one connection; its slot is free before the client sees the close, so a
        client that saw its connection end may count on a slot."""
        try:
            self.finish_request(request, client_address)
        except Exception:
            pass  # a client that misbehaved, went silent or left: its connection ends
        finally:
            self._slots.release()
            self.shutdown_request(request)


class _TokenBucket:
    """`rate` tokens a second, at most `rate` (and at least 1) saved up; used only by the
    accepting thread, so it needs no lock."""

    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.stamp = self.capacity, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
