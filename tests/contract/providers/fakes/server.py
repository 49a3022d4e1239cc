"""A real HTTP server on 127.0.0.1 (random port, own thread) with scripted faults.

The official SDKs are pointed at it through their base URL, so every test drives the real client code: its
retries, timeouts, redirects and parsing. Nothing is monkeypatched.

Faults are queued per route with :meth:`FakeServer.fault`; each fires ``times`` times, then the route works
normally. ``process=True`` makes the route do its work before the fault answers (a job created, then a 500
or a timeout on the way back), which is the case that must not lead to a second job.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def json(self) -> Any:
        ctype = self.headers.get("content-type", "")
        if not self.body or "json" not in ctype:
            return None
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, Any]:
        """multipart/form-data fields (str, or (filename, bytes) for files) or urlencoded fields."""
        ctype = self.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.body
            )
            out: dict[str, Any] = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                payload = part.get_payload(decode=True) or b""
                out[str(name)] = (filename, payload) if filename else payload.decode("utf-8")
            return out
        if ctype.startswith("application/x-www-form-urlencoded"):
            return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}
        return {}

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    kind: str  # "429" | "500" | "401" | "403" | "slow" | "malformed" | "close"
    times: int = 1
    process: bool = False
    delay: float = 1.0
    retry_after: str | None = None
    body: Any = None


Handler = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    request_queue_size = (
        128  # a real API takes many connections at once; the default 5 makes clients wait 1 s
    )

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client killed mid-request (the SIGKILL tests) is not the server's error
        super().handle_error(request, client_address)


class FakeServer:
    """Routes are ``(METHOD, regex)`` -> handler; every request is recorded in :attr:`requests`."""

    api_key = "test-key-0123456789abcdef"

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.exchanges: list[
            tuple[Request, Response]
        ] = []  # every normal (non-fault) answer, for contract tests
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.httpd: ThreadingHTTPServer | None = None
        self.down_after: tuple[str, re.Pattern[str]] | None = None  # stop listening once this is answered
        self.latencies: list[tuple[str, re.Pattern[str], float]] = []  # (method, path, seconds) per answer
        # chat completions: models answered with an error (model -> (status, body)), and what a model says
        self.unservable: dict[str, tuple[int, Any]] = {}
        self.chat_answer: Callable[[dict[str, Any]], str] | None = None
        self.url = ""
        self.accept_basic_auth = False

    # -- setup ------------------------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def fault(
        self,
        method: str,
        pattern: str,
        kind: str,
        *,
        times: int = 1,
        process: bool = False,
        delay: float = 1.0,
        retry_after: str | None = None,
        body: Any = None,
    ) -> None:
        with self.lock:
            self.faults.append(
                Fault(method, re.compile(f"^{pattern}$"), kind, times, process, delay, retry_after, body)
            )

    def latency(self, method: str, pattern: str, seconds: float) -> None:
        """Answer every ``method pattern`` request after ``seconds`` (requests wait in parallel, like a real API)."""
        self.latencies.append((method, re.compile(f"^{pattern}$"), seconds))

    def start(self) -> FakeServer:
        server = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without TCP_NODELAY, Nagle and delayed ACKs add 40 ms
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                try:
                    server._dispatch(self)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-request
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = _Server(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def chat_text(self, body: dict[str, Any]) -> str:
        """The assistant's answer to a chat request: ``chat_answer(body)``, else "echo: <last user message>"."""
        if self.chat_answer is not None:
            return self.chat_answer(body)
        last = next(
            (m.get("content", "") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), ""
        )
        return f"echo: {last}"

    # -- inspection -------------------------------------------------------------------------------------------
    def go_down_after(self, method: str, pattern: str) -> None:
        """Answer the next ``method pattern`` request, then stop listening: later connections are refused."""
        self.down_after = (method, re.compile(f"^{pattern}$"))

    def answers(self, method: str, pattern: str, status: int = 200) -> list[Any]:
        """The JSON bodies of the normal answers to ``method pattern`` with ``status``."""
        rx = re.compile(f"^{pattern}$")
        with self.lock:
            return [
                resp.body
                for req, resp in self.exchanges
                if req.method == method
                and rx.match(req.path)
                and resp.status == status
                and not isinstance(resp.body, bytes)
            ]

    def calls(self, method: str, pattern: str) -> list[Request]:
        rx = re.compile(f"^{pattern}$")
        with self.lock:
            return [r for r in self.requests if r.method == method and rx.match(r.path)]

    # -- dispatch ---------------------------------------------------------------------------------------------
    def authorized(self, req: Request) -> bool:
        auth = req.headers.get("authorization") or ""
        # accept_basic_auth: a proxy in front of the service took the base URL's user:password
        return auth == f"Bearer {self.api_key}" or (self.accept_basic_auth and auth.startswith("Basic "))

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        req = Request(
            h.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in h.headers.items()},
            body,
        )
        with self.lock:
            self.requests.append(req)
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.times > 0 and f.method == req.method and f.pattern.match(req.path)
                ),
                None,
            )
            if fault is not None:
                fault.times -= 1
        for method, rx, seconds in self.latencies:
            if method == req.method and rx.match(req.path):
                time.sleep(seconds)  # outside the lock: concurrent requests overlap
                break
        handler = None
        for method, rx, fn in self.routes:
            m = rx.match(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                handler = fn
                break
        if fault is not None:
            if fault.process and handler is not None:
                with self.lock:
                    handler(req)
            self._fault(h, fault)
            return
        if handler is None:
            resp = Response(
                404, {"error": {"message": f"no route {req.method} {req.path}", "type": "not_found"}}
            )
        else:
            with self.lock:
                resp = handler(req)
                self.exchanges.append((req, resp))
        down = (
            self.down_after is not None
            and self.down_after[0] == req.method
            and self.down_after[1].match(req.path)
        )
        if down:
            h.close_connection = True  # no keep-alive: the client must connect again, and will be refused
            resp.headers["connection"] = "close"
            self.down_after = None
            # stop listening before answering: a client quick to connect again must be refused, not queued
            self.stop()
        self._send(h, resp)

    def _fault(self, h: BaseHTTPRequestHandler, f: Fault) -> None:
        def error(status: int, message: str, etype: str, headers: dict[str, str] | None = None) -> Response:
            body = (
                f.body
                if f.body is not None
                else {"error": {"message": message, "type": etype, "param": None, "code": None}}
            )
            return Response(status, body, headers or {})

        if f.kind == "429":
            headers = {"retry-after": f.retry_after or "1"}
            if f.retry_after is None:
                headers["retry-after-ms"] = "20"
            self._send(h, error(429, "Rate limit reached, slow down", "rate_limit_exceeded", headers))
        elif f.kind == "500":
            self._send(
                h,
                error(
                    500,
                    "The server had an error while processing your request",
                    "server_error",
                    {"retry-after-ms": "20"},
                ),
            )
        elif f.kind == "401":
            self._send(h, error(401, "Invalid API key provided", "invalid_request_error"))
        elif f.kind == "403":
            self._send(h, error(403, "You do not have access to fine-tuning", "invalid_request_error"))
        elif f.kind == "slow":
            time.sleep(f.delay)
            self._send(h, Response(200, {"error": {"message": "too late", "type": "late"}}))
        elif f.kind == "malformed":
            self._send(
                h, Response(200, b'{"id": "ft-truncated", "status": ', {"content-type": "application/json"})
            )
        elif f.kind == "close":
            h.close_connection = True
            h.wfile.flush()
            h.connection.close()
        else:  # pragma: no cover
            raise ValueError(f.kind)

    def _send(self, h: BaseHTTPRequestHandler, resp: Response) -> None:
        if isinstance(resp.body, bytes):
            data = resp.body
            headers = {"content-type": "application/octet-stream", **resp.headers}
        elif resp.body is None:
            data = b""
            headers = dict(resp.headers)
        else:
            data = json.dumps(resp.body).encode()
            headers = {"content-type": "application/json", **resp.headers}
        try:
            h.send_response(resp.status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:  # the client gave up (a timeout test): nothing to answer
            pass


def error_body(message: str, etype: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": None}}
