"""HTTP hygiene around every route: a body size limit and the security headers.

Plain ASGI middlewares, so they run before FastAPI reads a byte of the body and also wrap the
answers of errors raised outside the routes.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

from coordinator.api.errors import ErrorBody

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

# The console is served by the coordinator itself: scripts, styles, images and API calls come
# from the same origin only, nothing may frame it, and forms post only back to it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
# The interactive API docs (/docs) load Swagger UI from a CDN with an inline starter script and
# styles; only that page gets them.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net;"
    " style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net;"
    " img-src 'self' data: https://fastapi.tiangolo.com;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")


class SecurityHeaders:
    """Adds the CSP, nosniff, no-referrer and frame denial to every HTTP answer."""

    def __init__(self, app: Asgi) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_CONTENT_SECURITY_POLICY if scope["path"] in DOCS_PATHS else None
        csp = (policy or CONTENT_SECURITY_POLICY).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [*SECURITY_HEADERS, (b"content-security-policy", csp)]
                headers.extend(item for item in extra if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuses a request body over the limit with 413 before the application reads it.

    Multipart uploads (face photos) get their own, larger limit. The body is read here up to
    the limit, counting what arrives rather than trusting Content-Length, and handed on whole.
    """

    def __init__(self, app: Asgi, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > limit:
                await _too_large(limit)(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    def _limit_for(self, scope: Scope) -> int:
        content_type = _header(scope, b"content-type") or ""
        is_upload = content_type.lower().startswith("multipart/form-data")
        return self.max_upload_bytes if is_upload else self.max_bytes


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            # After the body, wait for what the server sends next (a disconnect).
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _too_large(limit: int) -> JSONResponse:
    body = ErrorBody(
        code="request_too_large",
        message=f"the request body is larger than {limit} bytes: send less, or split the file",
    )
    return JSONResponse(body.model_dump(), status_code=413, headers={"Connection": "close"})
