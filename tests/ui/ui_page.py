"""A browser page on the Dagster UI, and what it did wrong while the test looked at it: uncaught
errors, console errors of our own, failed requests to the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Console errors that are the browser's, not the UI's, matched as substrings of the message. None
# showed up with Debian's chromium 150 and Dagster 1.13 (only Apollo's deprecation *warnings*,
# which are not errors); add an entry here, with why it is noise, rather than loosening _ours.
BROWSER_NOISE: tuple[str, ...] = ()


@dataclass
class PageProblems:
    """Collects a page's problems from the moment :meth:`watch` attaches until the test reads them."""

    origin: str
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    @classmethod
    def watch(cls, page: Any, origin: str) -> PageProblems:
        problems = cls(origin=origin)
        page.on("pageerror", problems._on_page_error)
        page.on("console", problems._on_console)
        page.on("response", problems._on_response)
        page.on("requestfailed", problems._on_request_failed)
        return problems

    def _on_page_error(self, error: Any) -> None:
        self.page_errors.append(f"{error.name}: {error.message}")

    def _on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if not self._ours(url) or any(noise in message.text for noise in BROWSER_NOISE):
            return
        self.console_errors.append(f"{message.text} ({url})")

    def _on_response(self, response: Any) -> None:
        if self._ours(response.url) and response.status >= 500:
            self.failed_requests.append(f"HTTP {response.status} {response.request.method} {response.url}")

    def _on_request_failed(self, request: Any) -> None:
        failure = request.failure or ""
        # A navigation cancels the previous page's polling requests: that is not a failure.
        if self._ours(request.url) and "ERR_ABORTED" not in failure:
            self.failed_requests.append(f"{failure} {request.method} {request.url}")

    def _ours(self, url: str) -> bool:
        """Served by our Dagster UI (its scripts, GraphQL, assets); a console message with no
        location comes from the page's own inline code, which is ours too."""
        return url.startswith(self.origin) or url == ""

    def all(self) -> list[str]:
        return (
            [f"page error: {e}" for e in self.page_errors]
            + [f"console error: {e}" for e in self.console_errors]
            + [f"request failed: {e}" for e in self.failed_requests]
        )


@dataclass
class UiPage:
    """A Playwright page on the UI at ``base_url``, watched from its creation."""

    page: Any
    base_url: str
    problems: PageProblems
    screenshot_prefix: Path  # screenshots are <prefix>.png and <prefix>__<step>.png

    @classmethod
    def watch(cls, page: Any, base_url: str, screenshot_prefix: Path) -> UiPage:
        problems = PageProblems.watch(page, base_url)
        return cls(page=page, base_url=base_url, problems=problems, screenshot_prefix=screenshot_prefix)

    def screenshot(self, step: str | None = None) -> Path:
        name = self.screenshot_prefix.name + (f"__{step}" if step else "")
        path = self.screenshot_prefix.with_name(f"{name}.png")
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def open(self, path: str) -> None:
        self.page.goto(f"{self.base_url}{path}", wait_until="domcontentloaded")

    def assert_no_problems(self) -> None:
        problems = self.problems.all()
        assert not problems, "the page reported problems:\n" + "\n".join(problems)
