"""Keep a browser page offline: only the server under test answers (book and
JupyterLab tests)."""

from __future__ import annotations

from urllib.parse import urlparse


def block_outside(context, base_url: str) -> list[str]:
    """Let a browser context reach only the server at ``base_url`` (and
    data:/blob: URLs); every other request is aborted and its URL
    appended to the returned list (which the tests assert empty)."""
    outside: list[str] = []
    host = urlparse(base_url).netloc

    def route(r):
        url = urlparse(r.request.url)
        if url.scheme in ("data", "blob", "about") or url.netloc == host:
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return outside
