"""Security headers on every response gridbot's application answers: pages, the API, the
channel endpoints, static files and errors alike.

The pages load their scripts and styles only from gridbot itself (no inline script, no inline
style attribute), may not be framed, and send no referrer; nothing is sniffed into another type;
only the static files may be cached, and `Server` names gridbot, not its HTTP library.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    # blob: the console shows a ticket's pictures fetched with the admin token.
    "img-src 'self' blob:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Server": "gridbot",
}

#: Paths whose answers may be kept by a browser (and revalidated); everything else is no-store.
CACHEABLE_PREFIXES = ("/static/", "/favicon.ico")


async def add_security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: runs for every response, handlers' and aiohttp's own."""
    response.headers.update(SECURITY_HEADERS)
    cacheable = request.path.startswith(CACHEABLE_PREFIXES)
    response.headers["Cache-Control"] = "no-cache" if cacheable else "no-store"


def secure_headers(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
