"""The browser tests' world: `make run`'s server (tests/local_api.py starts
`python -m dev.serve`, which serves the built console and the API on one port),
a stand-in identity provider for the OpenID Connect sign-in, and one Chromium
for the whole session (Playwright driving the machine's browser: dev/chromium.py).

Each test gets a fresh browser context (its own sessionStorage, like a new tab of
a new person). A failed test leaves a screenshot of every page it had open in
out/web-screenshots/ and prints the path; `DIEM_WEB_SCREENSHOTS=1` keeps the
screenshots of the flows' checkpoints too (`snap`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "web-screenshots"
CLIENT_ID = "diem-console-test"


def snap(page: Any, name: str) -> None:
    """A screenshot of a flow's checkpoint, kept when DIEM_WEB_SCREENSHOTS=1."""
    if os.environ.get("DIEM_WEB_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# -- a stand-in identity provider (authorization code with PKCE) -----------------------


@dataclass
class FakeIdp:
    """Authorizes at once (no login page) and issues an ID token for `subject`,
    signed with the local API's HS256 secret so the API accepts it; the token
    endpoint refuses a code_verifier that does not hash to the code_challenge."""

    secret: str
    role: str = "marketer"
    subject: str = "oidc-alice"
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def id_token(self) -> str:
        now = int(time.time())
        claims = {"sub": self.subject, "role": self.role, "iat": now, "exp": now + 3600, "aud": CLIENT_ID}
        return jwt.encode(claims, self.secret, algorithm="HS256")


def _handler(idp: FakeIdp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path != "/authorize":
                return self._answer(404, {"error": "not_found"})
            ok = q.get("client_id") == CLIENT_ID and q.get("code_challenge_method") == "S256"
            if not ok or q.get("response_type") != "code" or not q.get("code_challenge"):
                return self._answer(400, {"error": "invalid_request"})
            code = secrets.token_urlsafe(16)
            idp.codes[code] = (q["code_challenge"], q["redirect_uri"])
            target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            challenge, redirect = idp.codes.pop(form.get("code", ""), ("", ""))
            verifier = form.get("code_verifier", "")
            hashed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            verified = bool(challenge) and hashed == challenge and form.get("redirect_uri") == redirect
            idp.exchanges.append({"verified": verified, "grant_type": form.get("grant_type")})
            if not verified or form.get("grant_type") != "authorization_code" or form.get("client_id") != CLIENT_ID:
                return self._answer(400, {"error": "invalid_grant"})
            body = {"id_token": idp.id_token(), "access_token": "opaque", "token_type": "Bearer", "expires_in": 3600}
            self._answer(200, body)

    return Handler


@pytest.fixture(scope="session")
def idp() -> Iterator[FakeIdp]:
    from local_api import SECRET

    made = FakeIdp(SECRET)
    made.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(made))
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


# -- the console's server and the browser -----------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    from dev.chromium import find, skipping_browser_tests

    path = find()
    if path is None:
        message = "no Chromium for the browser tests: set CHROMIUM_PATH or apt-get install chromium"
        if not skipping_browser_tests():  # a missing browser fails, wherever this runs, unless one opts out
            pytest.fail(f"{message} (or DIEM_SKIP_BROWSER_TESTS=1 to skip them knowingly)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def console_server(idp: FakeIdp, chromium: str) -> Iterator[Any]:
    """`make run`'s server, with the console built first (a no-op when web/dist is current)."""
    import local_api

    from dev import console

    console.build(quiet=True)
    running = local_api.start(
        extra_env={
            "DIEM_CONSOLE_OIDC_AUTHORIZATION_URL": f"{idp.base}/authorize",
            "DIEM_CONSOLE_OIDC_TOKEN_URL": f"{idp.base}/token",
            "DIEM_CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
            "DIEM_LOCAL_JOBS": "0",
            "QUIET": "1",
        }
    )
    try:
        yield running
    finally:
        local_api.stop(running)


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@dataclass
class People:
    """Browser contexts made by one test, each a person at a screen."""

    browser: Any
    base: str
    contexts: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def page(self, width: int = 1280, height: int = 900) -> Any:
        context = self.browser.new_context(viewport={"width": width, "height": height}, base_url=self.base)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        # a CSP refusal or a script error is a defect, whatever the test checks (a 4xx the
        # console shows as words is logged as "Failed to load resource": not a defect)
        page.on("console", lambda m: self.problems.append(m.text) if _defect(m) else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        return page

    def assert_clean(self) -> None:
        assert not self.problems, f"the pages logged defects: {self.problems}"


def _defect(message: Any) -> bool:
    return message.type == "error" and "Failed to load resource" not in message.text


@pytest.fixture
def people(request: pytest.FixtureRequest, browser: Any, console_server: Any) -> Iterator[People]:
    made = People(browser, console_server.base)
    yield made
    if request.node.stash.get(_FAILED, False):
        SHOTS.mkdir(parents=True, exist_ok=True)
        for n, context in enumerate(made.contexts):
            for m, page in enumerate(context.pages):
                path = SHOTS / f"{request.node.name}-{n}-{m}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"\nscreenshot of the failed test: {path}")
    for context in made.contexts:
        context.close()
