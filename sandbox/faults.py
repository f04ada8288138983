"""Deterministic fault injection: throttling, server errors and stalls, per vendor."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from sandbox.util import mix_int, salt
from sandbox.vendors.base import Request, Response

META_THROTTLE = {
    4: (None, "(#4) Application request limit reached"),
    17: (2446079, "(#17) User request limit reached"),
    613: (1487742, "(#613) Calls to this api have exceeded the rate limit."),
    80004: (2446079, "(#80004) There have been too many calls to this ad-account."),
}


@dataclass
class FaultConfig:
    """All zero by default. Decisions are a seeded hash of (request, attempt) -> deterministic."""

    rate_limit_every: int = 0  # every Nth request per vendor is throttled
    retry_after_seconds: int = 1
    error_rate: float = 0.0  # share of 500/502/503
    timeout_rate: float = 0.0  # share of requests stalled timeout_seconds before answering
    timeout_seconds: float = 5.0
    truncate_rate: float = 0.0  # share of successful responses whose body is cut short (invalid JSON)
    seed: int = 0
    meta_throttle_code: int = 17  # 4, 17, 613 or 80004
    meta_report_job_failure_rate: float = 0.0  # share of Meta insights report jobs ending "Job Failed"
    vendors: tuple[str, ...] = ("klaviyo", "hubspot", "meta", "google_ads")


@dataclass
class Fault:
    response: Response | None = None  # answer this instead of the real response
    delay_seconds: float = 0.0  # stall before answering
    truncate_at: float | None = None  # answer normally, but send only this share of the body's bytes


class FaultInjector:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._lock = threading.Lock()
        self._per_vendor: Counter[str] = Counter()
        self._attempts: Counter[tuple[str, str, str, bytes]] = Counter()

    def decide(self, vendor: str, req: Request) -> Fault | None:
        """Count the request (per vendor and per identical request) and decide its fate."""
        cfg = self.config
        ident = (
            vendor,
            req.method,
            req.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(req.query.items())),
            req.body,
        )
        with self._lock:
            self._per_vendor[vendor] += 1
            nth = self._per_vendor[vendor]
            attempt = self._attempts[ident]
            self._attempts[ident] += 1
        req.attempt = attempt
        if vendor not in cfg.vendors:
            return None
        if cfg.rate_limit_every > 0 and nth % cfg.rate_limit_every == 0:
            return Fault(throttle(vendor, req, cfg))
        h = mix_int(salt(cfg.seed, vendor, *ident[1:3], req.body.decode("utf-8", "replace"), attempt))
        u = (h >> 11) / float(1 << 53)
        if u < cfg.error_rate:
            code = (500, 502, 503)[h % 3] if vendor != "google_ads" else (500, 503)[h % 2]
            return Fault(server_error(vendor, req, code))
        if u < cfg.error_rate + cfg.timeout_rate:
            return Fault(delay_seconds=cfg.timeout_seconds)
        if u < cfg.error_rate + cfg.timeout_rate + cfg.truncate_rate:
            return Fault(truncate_at=0.1 + 0.8 * ((h >> 3) % 1000) / 1000)
        return None


def throttle(vendor: str, req: Request, cfg: FaultConfig) -> Response:
    retry = {"Retry-After": str(cfg.retry_after_seconds)}
    trace = req.trace_id("fault")
    if vendor == "klaviyo":
        return Response(
            429,
            {
                "errors": [
                    {
                        "id": trace,
                        "status": 429,
                        "code": "throttled",
                        "title": "Request was throttled.",
                        "detail": f"Request was throttled. Expected available in {cfg.retry_after_seconds} second.",
                        "links": {},
                        "meta": {},
                    }
                ]
            },
            retry,
            "application/vnd.api+json",
        )
    if vendor == "hubspot":
        return Response(
            429,
            {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": trace,
                "policyName": "SECONDLY",
            },
            retry,
        )
    if vendor == "google_ads":
        return Response(
            429,
            {
                "error": {
                    "code": 429,
                    "message": "Resource has been exhausted (e.g. check quota).",
                    "status": "RESOURCE_EXHAUSTED",
                }
            },
            retry,
        )
    subcode, message = META_THROTTLE.get(cfg.meta_throttle_code, META_THROTTLE[17])
    err = {
        "code": cfg.meta_throttle_code,
        "is_transient": True,
        "type": "OAuthException",
        "message": message,
        "fbtrace_id": trace,
    }
    if subcode:
        err["error_subcode"] = subcode
    return Response(400, {"error": err})


def server_error(vendor: str, req: Request, code: int) -> Response:
    trace = req.trace_id("fault")
    if vendor == "klaviyo":
        return Response(
            code,
            {
                "errors": [
                    {
                        "id": trace,
                        "status": code,
                        "code": "error",
                        "title": "A server error occurred.",
                        "detail": "A server error occurred.",
                        "links": {},
                        "meta": {},
                    }
                ]
            },
            {},
            "application/vnd.api+json",
        )
    if vendor == "hubspot":
        return Response(
            code,
            {
                "status": "error",
                "message": "internal error",
                "correlationId": trace,
                "category": "INTERNAL_ERROR",
            },
        )
    if vendor == "google_ads":
        status = "INTERNAL" if code == 500 else "UNAVAILABLE"
        return Response(
            code,
            {
                "error": {
                    "code": code,
                    "message": "Internal error encountered."
                    if code == 500
                    else "The service is currently unavailable.",
                    "status": status,
                }
            },
        )
    return Response(
        code,
        {
            "error": {
                "message": "An unknown error occurred" if code == 500 else "Service temporarily unavailable",
                "type": "OAuthException",
                "code": 1 if code == 500 else 2,
                "is_transient": True,
                "fbtrace_id": trace,
            }
        },
    )
