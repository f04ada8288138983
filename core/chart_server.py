"""Serve the decision charts (``$LOOPWISE_HOME/reports``) over local HTTP, so the Dagster UI can
link to them (``MetadataValue.url``): a browser will not open a ``file://`` link from a web page.

Read-only and small on purpose: GET and HEAD of files under the reports directory only (no
directory listings, nothing outside the directory, symlinks included), bound to 127.0.0.1 unless
told otherwise. ``loopwise dev`` starts it beside ``dagster dev``. The charts carry plotly.js in
their own directory (``include_plotlyjs="directory"``), so they draw without internet.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from core.settings import CHARTS_HOST, CHARTS_PORT


class _ReportsHandler(SimpleHTTPRequestHandler):
    """Files under ``directory``, nothing else; no listings, no logging to stderr."""

    def translate_path(self, path: str) -> str:
        root = Path(self.directory).resolve()
        resolved = Path(super().translate_path(path)).resolve()
        if resolved != root and root not in resolved.parents:
            return str(root / "__outside_the_reports_directory__")  # answered 404
        return str(resolved)

    def list_directory(self, path: str):  # noqa: ANN201 - the base class's signature
        self.send_error(404, "No listing")
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a new run rewrites a chart under the same name
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def start_chart_server(
    directory: Path, host: str = CHARTS_HOST, port: int = CHARTS_PORT
) -> ThreadingHTTPServer:
    """Serve ``directory`` on ``host:port`` from a daemon thread; ``server.shutdown()`` stops it.
    ``port=0`` picks a free port (``server.server_address`` says which)."""
    directory.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_ReportsHandler, directory=str(directory))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="loopwise-chart-server", daemon=True).start()
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def main(argv: list[str] | None = None) -> None:
    """``python -m core.chart_server --directory DIR [--host H] [--port P]``: serve until killed."""
    import argparse

    parser = argparse.ArgumentParser(description="Serve the Loopwise charts directory read-only over HTTP.")
    parser.add_argument("--directory", required=True, type=Path)
    parser.add_argument("--host", default=CHARTS_HOST)
    parser.add_argument("--port", default=CHARTS_PORT, type=int)
    args = parser.parse_args(argv)
    server = start_chart_server(args.directory, args.host, args.port)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
