"""What the browser test counts as a page's problem (no browser needed: runs in ``make test``)."""

from __future__ import annotations

from types import SimpleNamespace

from ui_page import PageProblems

ORIGIN = "http://127.0.0.1:3000"


class FakePage:
    def __init__(self) -> None:
        self.handlers: dict[str, object] = {}

    def on(self, event: str, handler: object) -> None:
        self.handlers[event] = handler


def console(kind: str, text: str, url: str) -> SimpleNamespace:
    return SimpleNamespace(type=kind, text=text, location={"url": url})


def test_our_console_errors_and_page_errors_count_others_do_not() -> None:
    page = FakePage()
    problems = PageProblems.watch(page, ORIGIN)
    page.handlers["console"](console("error", "TypeError in AssetNode", f"{ORIGIN}/_next/static/app.js"))
    page.handlers["console"](console("error", "inline script failed", ""))
    page.handlers["console"](console("warning", "Apollo deprecation", f"{ORIGIN}/_next/static/app.js"))
    page.handlers["console"](console("error", "extension broke", "chrome-extension://abc/content.js"))
    page.handlers["pageerror"](SimpleNamespace(name="ReferenceError", message="x is not defined"))

    assert problems.console_errors == [
        f"TypeError in AssetNode ({ORIGIN}/_next/static/app.js)",
        "inline script failed ()",
    ]
    assert problems.all()[0] == "page error: ReferenceError: x is not defined"
    assert len(problems.all()) == 3


def test_server_errors_and_failed_requests_count_aborted_navigations_do_not() -> None:
    page = FakePage()
    problems = PageProblems.watch(page, ORIGIN)
    post = SimpleNamespace(method="POST")
    page.handlers["response"](SimpleNamespace(url=f"{ORIGIN}/graphql", status=500, request=post))
    page.handlers["response"](SimpleNamespace(url=f"{ORIGIN}/graphql", status=200, request=post))
    page.handlers["response"](SimpleNamespace(url="https://example.com/x", status=503, request=post))
    page.handlers["requestfailed"](
        SimpleNamespace(url=f"{ORIGIN}/graphql", method="POST", failure="net::ERR_CONNECTION_REFUSED")
    )
    page.handlers["requestfailed"](
        SimpleNamespace(url=f"{ORIGIN}/graphql", method="POST", failure="net::ERR_ABORTED")
    )

    assert problems.failed_requests == [
        f"HTTP 500 POST {ORIGIN}/graphql",
        f"net::ERR_CONNECTION_REFUSED POST {ORIGIN}/graphql",
    ]
