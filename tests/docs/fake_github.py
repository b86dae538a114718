"""A fake GitHub REST API serving releases, on 127.0.0.1, for the docs tests.

It serves ``GET /repos/<owner>/<repo>/releases`` paginated like GitHub (with
``per_page``, ``page`` and ``Link`` headers) and can be told to answer with
the errors the changelog extension must survive: bad credentials, rate
limits, server errors. Every request is recorded.
"""

from __future__ import annotations

import dataclasses
import enum
import http.server
import json
import socket
import threading
import time
import urllib.parse
from typing import Any

__all__ = ["Behaviour", "FakeGitHub", "RecordedRequest", "refused_url"]

_RELEASES_PATH = "/repos/{}/releases"


class Behaviour(enum.Enum):
    """How the fake API answers (see :attr:`FakeGitHub.behaviour`)."""

    OK = "ok"
    BAD_CREDENTIALS = "bad credentials"
    RATE_LIMITED = "rate limited"
    TOO_MANY_REQUESTS = "too many requests"
    SERVER_ERROR = "server error"
    HANG = "hang"
    NOT_JSON = "not json"


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """A request received by the fake API."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header, if any."""
        return self.headers.get("authorization")


class FakeGitHub:
    """A fake GitHub API in a thread, listening on a free port of 127.0.0.1.

    Use it as a context manager. Configure it through its attributes:

    * :attr:`behaviour`: how to answer, :attr:`Behaviour.OK` by default;
    * :attr:`failures`: how many requests get the failing :attr:`behaviour`
      before the API answers normally (``None``: all of them);
    * :attr:`token`: if set, requests not authenticated with it get a 401;
    * :attr:`hang_seconds`: how long :attr:`Behaviour.HANG` waits before
      answering.
    """

    def __init__(self) -> None:
        self.behaviour = Behaviour.OK
        self.failures: int | None = None
        self.token: str | None = None
        self.hang_seconds = 1.5
        self.requests: list[RecordedRequest] = []
        self._releases: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The root URL of the API, to use as ``changelog_github_api_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def add_release(
        self,
        repository: str,
        tag: str,
        *,
        published: str,
        name: str | None = None,
        body: str | None = "",
        prerelease: bool = False,
        draft: bool = False,
    ) -> None:
        """Add a release to ``repository`` (``owner/repo``).

        :param published: Publication date, ISO 8601 (``2024-05-02T10:00:00Z``).
        """
        releases = self._releases.setdefault(repository, [])
        identifier = len(releases) + 1
        releases.append(
            {
                "url": f"{self.url}{_RELEASES_PATH.format(repository)}/{identifier}",
                "html_url": f"https://github.com/{repository}/releases/tag/{tag}",
                "id": identifier,
                "node_id": f"RE_{identifier}",
                "tag_name": tag,
                "target_commitish": "main",
                "name": name,
                "body": body,
                "draft": draft,
                "prerelease": prerelease,
                "created_at": published,
                # GitHub has no publication date for drafts.
                "published_at": None if draft else published,
                "assets": [],
            }
        )

    def release_requests(self) -> list[RecordedRequest]:
        """Return the recorded requests listing releases."""
        return [
            request for request in self.requests if request.path.endswith("/releases")
        ]

    def record(self, request: RecordedRequest) -> bool:
        """Record ``request``; return whether it gets the failing behaviour."""
        with self._lock:
            self.requests.append(request)
            if self.failures is None:
                return True
            failing = self.failures > 0
            self.failures -= 1 if failing else 0
            return failing

    def releases_of(self, path: str) -> list[dict[str, Any]] | None:
        """Return the releases served at ``path``, or ``None`` if unknown."""
        for repository, releases in self._releases.items():
            if path == _RELEASES_PATH.format(repository):
                return releases
        return None


def refused_url() -> str:
    """Return the URL of a port of 127.0.0.1 where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "FakeGitHub/1.0"

    @property
    def fake(self) -> FakeGitHub:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        return fake

    def log_message(self, format: str, *args: Any) -> None:
        # Keep the test output clean.
        return

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = RecordedRequest(path=parsed.path, query=query, headers=headers)
        failing = self.fake.record(request)
        if self.fake.token is not None and not self._authenticated(request):
            self._send_error(401, "Bad credentials")
            return
        if failing and self.fake.behaviour is not Behaviour.OK:
            self._fail(self.fake.behaviour)
            return
        self._serve_releases(parsed.path, query)

    def _authenticated(self, request: RecordedRequest) -> bool:
        credentials = (request.authorization or "").split()
        return len(credentials) == 2 and credentials[1] == self.fake.token

    def _fail(self, behaviour: Behaviour) -> None:
        if behaviour is Behaviour.BAD_CREDENTIALS:
            self._send_error(401, "Bad credentials")
        elif behaviour is Behaviour.RATE_LIMITED:
            reset = str(int(time.time()) + 1)
            headers = {
                "X-RateLimit-Limit": "60",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
            }
            self._send_error(403, "API rate limit exceeded for 127.0.0.1.", headers)
        elif behaviour is Behaviour.NOT_JSON:
            self._send(200, b"<html>Sign in to the Wi-Fi</html>", "text/html", {})
        elif behaviour is Behaviour.HANG:
            time.sleep(self.fake.hang_seconds)
            self._send_error(504, "Gateway Timeout")
        elif behaviour is Behaviour.TOO_MANY_REQUESTS:
            self._send_error(429, "Too Many Requests", {"Retry-After": "1"})
        else:
            self._send_error(500, "Server Error")

    def _serve_releases(self, path: str, query: dict[str, str]) -> None:
        releases = self.fake.releases_of(path)
        if releases is None:
            self._send_error(404, "Not Found")
            return
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        last = max(1, -(-len(releases) // per_page))
        chunk = releases[(page - 1) * per_page : page * per_page]
        self._send_json(200, chunk, {"Link": self._links(path, per_page, page, last)})

    def _links(self, path: str, per_page: int, page: int, last: int) -> str:
        def link(number: int, relation: str) -> str:
            query = urllib.parse.urlencode({"per_page": per_page, "page": number})
            return f'<{self.fake.url}{path}?{query}>; rel="{relation}"'

        links = []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return ", ".join(links)

    def _send_error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        body = {"message": message, "documentation_url": "https://docs.github.com/rest"}
        self._send_json(status, body, headers or {})

    def _send_json(self, status: int, body: object, headers: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self._send(status, payload, "application/json; charset=utf-8", headers)

    def _send(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            if value:
                self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting (Behaviour.HANG): nobody to answer.
            return
