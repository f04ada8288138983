"""SandboxServer: the world's vendor APIs over real local HTTP (ThreadingHTTPServer)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.drift import drop_fields
from sandbox.faults import FaultConfig, FaultInjector
from sandbox.util import iso_utc, json_bytes
from sandbox.vendors.base import ApiError, Request, Response
from sandbox.vendors.google_ads import GoogleAdsApi
from sandbox.vendors.google_oauth import TOKEN_LIFETIME_SECONDS, GoogleOAuthApi
from sandbox.vendors.hubspot import HubSpotApi
from sandbox.vendors.klaviyo import KlaviyoApi
from sandbox.vendors.meta import MetaApi
from sandbox.world.core import World

PREFIXES = {
    "klaviyo": "/klaviyo",
    "hubspot": "/hubspot",
    "meta": "/meta",
    "google_ads": "/google-ads",
    "google_oauth": "/google-oauth",  # the token endpoint: {vendor_base_urls['google_oauth']}/token
}


class SandboxServer:
    """Serve `world` on 127.0.0.1 (port 0 = any free port). Use as a context manager or start()/stop()."""

    def __init__(
        self,
        world: World,
        faults: FaultConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        on_change: Callable[[World], None] | None = None,
        google_token_lifetime: float = TOKEN_LIFETIME_SECONDS,
    ) -> None:
        self.world = world
        self.faults = FaultInjector(faults)
        self.on_change = on_change
        self.request_log: list[tuple[str, str, int]] = []
        self._log_lock = threading.Lock()
        self.google_oauth = GoogleOAuthApi(world, google_token_lifetime)
        self.apis: dict[str, Any] = {
            "klaviyo": KlaviyoApi(world),
            "hubspot": HubSpotApi(world),
            "meta": MetaApi(world, report_job_failure_rate=self.faults.config.meta_report_job_failure_rate),
            "google_ads": GoogleAdsApi(world, self.google_oauth),
            "google_oauth": self.google_oauth,
        }
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def vendor_base_urls(self) -> dict[str, str]:
        return {vendor: self.base_url + prefix for vendor, prefix in PREFIXES.items()}

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="sandbox-http",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- dispatch ----------------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        if path.startswith("/_sandbox"):
            return self._control(method, path, body)
        for vendor, prefix in PREFIXES.items():
            if path == prefix or path.startswith(prefix + "/"):
                api = self.apis[vendor]
                req = Request(
                    method, path[len(prefix) :] or "/", query, headers, body, self.base_url + prefix
                )
                fault = self.faults.decide(vendor, req)
                if fault and fault.delay_seconds:
                    time.sleep(fault.delay_seconds)
                if fault and fault.response:
                    return fault.response
                denied = api.auth_error(req)
                if denied:
                    return denied
                writes_before = len(self.world.writes)
                try:
                    response = api.handle(req)
                except ApiError as exc:
                    response = exc.response
                if self.on_change and len(self.world.writes) != writes_before:
                    self.on_change(self.world)
                if response.status == 200 and self.world.spec.dropped_fields:
                    response.body = drop_fields(
                        vendor, req.path, response.body, self.world.spec.dropped_fields
                    )
                if fault and fault.truncate_at is not None and response.status == 200:
                    payload = json_bytes(response.body)
                    response.raw = payload[: max(1, int(len(payload) * fault.truncate_at))]
                return response
        return Response(404, {"error": f"no vendor at {path}; try {sorted(PREFIXES.values())}"})

    def _control(self, method: str, path: str, body: bytes) -> Response:
        w = self.world
        if path.rstrip("/") == "/_sandbox/advance" and method == "POST":
            try:
                days = int((json.loads(body or b"{}") or {}).get("days", 1))
                w.advance(days)
            except (ValueError, TypeError) as exc:
                return Response(400, {"error": str(exc)})
            if self.on_change:
                self.on_change(w)
        elif path.rstrip("/") not in ("/_sandbox/clock", "/_sandbox"):
            return Response(404, {"error": "unknown sandbox control path"})
        return Response(
            200,
            {
                "clock": iso_utc(w.clock_ts),
                "clock_day": w.clock_day,
                "preset": w.spec.base_preset,
                "seed": w.spec.seed,
                "start_date": w.spec.start_date.isoformat(),
                "writes": len(w.writes),
            },
        )

    def log(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self.request_log.append((method, path, status))


def _handler_for(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "LoopwiseSandbox/1.0"
        # TCP_NODELAY, as vendors' front ends set it: the headers and the body are two writes, and
        # with Nagle's algorithm the body waited for the client's delayed ACK of the headers
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                response = server.dispatch(self.command, self.path, headers, body)
            except Exception as exc:  # noqa: BLE001 - a sandbox bug must not kill the connection silently
                response = Response(500, {"error": f"sandbox internal error: {type(exc).__name__}: {exc}"})
            payload = response.raw if response.raw is not None else json_bytes(response.body)
            server.log(self.command, urlsplit(self.path).path, response.status)
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # client gave up (e.g. its timeout)
                pass

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            return

    return Handler
