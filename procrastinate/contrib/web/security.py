"""What protects the dashboard: HTTP Basic authentication, CSRF tokens for actions,
the rule that only a loopback address may be served without a credential, and the
headers that keep a browser from loading or framing what the pages did not ask for."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets
from typing import Any

import attr
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

CREDENTIAL_VARIABLE = "PROCRASTINATE_WEB_CREDENTIAL"
CSRF_COOKIE = "procrastinate_csrf"
CSRF_FIELD = "csrf_token"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@attr.dataclass(frozen=True)
class Credential:
    """A user name and password for HTTP Basic authentication."""

    username: str
    password: str = attr.ib(repr=False)

    @classmethod
    def parse(cls, raw: str) -> Credential:
        """
        Read ``user:password``.

        :raises ValueError: no colon, or an empty user or password (the message never
            contains the value).
        """
        username, colon, password = raw.partition(":")
        if not colon or not username or not password:
            raise ValueError(
                f"{CREDENTIAL_VARIABLE} must be user:password, with neither empty"
            )
        return cls(username=username, password=password)

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries this credential."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        username, _, password = decoded.partition(":")
        # Both comparisons always run, in constant time, so that timing tells nothing.
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, credential: Credential | None) -> None:
    """
    Refuse to serve the dashboard beyond this machine without a credential.

    :raises ValueError: ``host`` is not a loopback address and there is no credential.
    """
    if credential is None and not is_loopback(host):
        raise ValueError(
            f"Serving the dashboard on {host} needs a credential: set "
            f"{CREDENTIAL_VARIABLE}=user:password, or listen on 127.0.0.1"
        )


class BasicAuth:
    """ASGI middleware: every HTTP request must carry the credential."""

    def __init__(self, app: ASGIApp, credential: Credential) -> None:
        self.app = app
        self.credential = credential

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through, or answer 401 (the ASGI protocol)."""
        if scope["type"] != "http" or self.credential.accepts(
            Headers(scope=scope).get("authorization")
        ):
            await self.app(scope, receive, send)
            return
        response = PlainTextResponse(
            "This dashboard needs a user name and password.\n",
            status_code=401,
            headers={
                "WWW-Authenticate": 'Basic realm="procrastinate", charset="UTF-8"'
            },
        )
        await response(scope, receive, send)


def new_csrf_token() -> str:
    """A random token for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def csrf_ok(cookie: str | None, submitted: str | None) -> bool:
    """Whether a form's token matches the cookie (double-submit check)."""
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def same_origin(headers: Headers) -> bool:
    """Whether a request's ``Origin`` (when the browser sends one) is this host."""
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = headers.get("host", "")
    return origin.split("://", 1)[-1] == host


class SecurityHeaders:
    """ASGI middleware adding the headers of :data:`SECURITY_HEADERS`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Add the headers to every response start (the ASGI protocol)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (name.lower().encode(), value.encode())
                    for name, value in SECURITY_HEADERS.items()
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
