"""Conditional GETs: every ``GET /api/*`` JSON answer carries an ``ETag``, and a matching
``If-None-Match`` gets ``304 Not Modified`` with no body.

This is how the UI keeps the inbox, a thread and a bulk job's progress live: it polls and sends back
the last ``ETag``; nothing changed costs a header, not a body to transfer, parse and redraw. The tag
is a weak validator over the answer's bytes (the server still computes the answer: the saving is the
client's and the network's). Only 200 answers of ``application/json`` are tagged: errors, downloads
(a report's CSV) and the UI's files are passed through untouched.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def etag_of(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison: any listed tag (weak or strong form) equal to ours, or ``*``."""
    if not if_none_match:
        return False
    opaque = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == opaque:
            return True
    return False


class ETagMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not str(scope["path"]).startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                taggable = message["status"] == 200 and headers.get("content-type", "").startswith(
                    "application/json"
                )
                if not taggable:
                    start = None
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            etag = etag_of(body)
            headers = MutableHeaders(raw=list(start["headers"]))
            headers["ETag"] = etag
            headers.setdefault("Cache-Control", "no-cache")  # revalidate every time, never use blindly
            if matches(if_none_match, etag):
                del headers["content-length"]
                if "content-type" in headers:
                    del headers["content-type"]
                await send({"type": "http.response.start", "status": 304, "headers": headers.raw})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)
