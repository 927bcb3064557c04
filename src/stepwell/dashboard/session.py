"""Who may see and act on the dashboard.

``stepwell dev`` asks nothing. In production (``login_key`` set) a browser logs in with the key
and gets a session cookie; every page needs it, and every action (any method but GET/HEAD)
carries the page's anti-forgery token. Actions from another site are refused in both modes: a
browser sends ``Origin`` (or ``Referer``) with them, and it must name this server.

The session is stateless: ``<expiry>.<nonce>.<mac>``, the MAC an HMAC-SHA256 under a secret
derived from the key, so a session outlives a restart and is good on every process sharing the
database and the key. Changing the key ends every session. The cookie is HttpOnly and
SameSite=Strict, with Max-Age; the anti-forgery token is an HMAC of the session value.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, quote, urlsplit

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.templating import render

Endpoint = Callable[[Request], Awaitable[Response]]

COOKIE = "stepwell_session"
TOKEN_HEADER = "x-stepwell-token"
TOKEN_FIELD = "token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_LOGIN_BODY = 16 * 1024
"""A login form is a key and a path; anything longer is refused like a wrong key."""
REFUSAL_DELAY_S = 0.3
"""Every refused login waits this long, whatever was wrong, so timing tells nothing."""
_WRONG_KEY = "That key is not right."


def secret_for(ctx: DashboardContext) -> bytes:
    """The signing secret: the context's own, else derived from the login key."""
    if ctx.secret:
        return ctx.secret
    key = (ctx.login_key or "").encode("utf-8")
    ctx.secret = hmac.new(key, b"stepwell dashboard session v1", hashlib.sha256).digest()
    return ctx.secret


def _mac(secret: bytes, purpose: bytes, text: str) -> str:
    return hmac.new(secret, purpose + b"\0" + text.encode("ascii"), hashlib.sha256).hexdigest()


def new_session(ctx: DashboardContext, *, now: float | None = None) -> str:
    """A fresh session value, good for ``ctx.session_ttl_s`` seconds."""
    expiry = int(time.time() if now is None else now) + ctx.session_ttl_s
    body = f"{expiry}.{secrets.token_hex(16)}"
    return f"{body}.{_mac(secret_for(ctx), b'session', body)}"


def valid_session(ctx: DashboardContext, value: str | None, *, now: float | None = None) -> bool:
    """Whether ``value`` is a session this key signed and that has not expired."""
    if not value or len(value) > 200 or not value.isascii():
        return False
    expiry, dot, rest = value.partition(".")
    nonce, dot2, mac = rest.partition(".")
    if not (dot and dot2 and expiry.isdigit() and nonce and mac):
        return False
    expected = _mac(secret_for(ctx), b"session", f"{expiry}.{nonce}")
    if not hmac.compare_digest(mac.encode("ascii"), expected.encode("ascii")):
        return False
    return int(expiry) > (time.time() if now is None else now)


def csrf_token(ctx: DashboardContext, session_value: str) -> str:
    """The anti-forgery token of a session: an HMAC of its value under the secret."""
    return _mac(secret_for(ctx), b"csrf", session_value)


def key_matches(ctx: DashboardContext, given: str) -> bool:
    """Constant time whatever ``given`` is: fixed-length digests of both are compared."""
    expected = hashlib.sha256((ctx.login_key or "").encode("utf-8")).digest()
    offered = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(offered, expected) and ctx.login_key is not None


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site (not ``//host``, no scheme), else ``/``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 0x20 or char == "\\" for char in target) or len(target) > 2000:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("/login"):
        return "/"
    return target


def same_origin(request: Request) -> bool:
    """An ``Origin`` (else ``Referer``) header, when there is one, names this server."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True  # not a browser's cross-site request: browsers send Origin with those
    try:
        netloc = urlsplit(source).netloc
    except ValueError:
        return False
    host = request.headers.get("host", "")
    return bool(netloc) and netloc.lower() == host.lower()


def _login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(safe_next(here), safe='')}"


def _forbidden(why: str) -> Response:
    return PlainTextResponse(f"Forbidden: {why}", status_code=403)


async def _form_token(request: Request) -> str | None:
    """The ``token`` field of a urlencoded form (what htmx and plain forms send; multipart
    actions carry the header); the body stays cached for the endpoint to read."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    try:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    except ClientDisconnect:
        return None
    values = fields.get(TOKEN_FIELD)
    return values[0] if values else None


def protect(ctx: DashboardContext, endpoint: Callable[..., object]) -> Endpoint:
    """``endpoint``, reached only with a live session (production) and, for actions, a valid
    anti-forgery token; ``request.state.csrf_token`` is set for the page to embed."""

    async def call(request: Request) -> Response:
        result = endpoint(request)
        assert isinstance(result, Awaitable)
        response = await result
        assert isinstance(response, Response)
        return response

    async def guarded(request: Request) -> Response:
        request.state.ctx = ctx
        action = request.method not in SAFE_METHODS
        if action and not same_origin(request):
            return _forbidden("this action came from another site")
        if ctx.login_key is None:
            request.state.csrf_token = ""
            return await call(request)
        session = request.cookies.get(COOKIE)
        if not valid_session(ctx, session):
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": _login_url(request)})
            if not action:
                return RedirectResponse(_login_url(request), status_code=303)
            return _forbidden("log in first")
        assert session is not None
        token = csrf_token(ctx, session)
        request.state.csrf_token = token
        if action:
            given = request.headers.get(TOKEN_HEADER) or await _form_token(request) or ""
            if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("ascii")):
                return _forbidden("the page's token is missing or wrong; reload the page")
        return await call(request)

    return guarded


# -- the login and logout routes -----------------------------------------------------------------


def _login_page(request: Request, *, next_path: str, error: str | None, status: int) -> Response:
    response = render(request, "login.html", status_code=status, next=next_path, error=error)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _read_login(request: Request) -> tuple[str | None, str]:
    """The form's key (None when the body is too big or unreadable) and its ``next``."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_LOGIN_BODY:
                return None, "/"
            chunks.append(chunk)
    except ClientDisconnect:
        return None, "/"
    fields = parse_qs(b"".join(chunks).decode("utf-8", "replace"), keep_blank_values=True)
    key = fields.get("key", [None])[0]
    return key, safe_next(fields.get("next", ["/"])[0])


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    """The login and logout routes (open; logout needs the session's token)."""

    async def login(request: Request) -> Response:
        request.state.ctx = ctx
        request.state.csrf_token = ""
        if ctx.login_key is None:
            return RedirectResponse("/", status_code=303)
        if request.method in SAFE_METHODS:
            next_path = safe_next(request.query_params.get("next"))
            if valid_session(ctx, request.cookies.get(COOKIE)):
                return RedirectResponse(next_path, status_code=303)
            return _login_page(request, next_path=next_path, error=None, status=200)
        if not same_origin(request):
            return _forbidden("this login came from another site")
        key, next_path = await _read_login(request)
        if key is None or not key_matches(ctx, key):
            await asyncio.sleep(REFUSAL_DELAY_S)
            return _login_page(request, next_path=next_path, error=_WRONG_KEY, status=401)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            COOKIE,
            new_session(ctx),
            max_age=ctx.session_ttl_s,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return [
        Route("/login", login, methods=["GET", "POST"], name="login"),
        Route("/logout", protect(ctx, logout), methods=["POST"], name="logout"),
    ]
