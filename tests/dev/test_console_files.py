"""How `make run` serves the console's files (dev/console.py): web/dist only, the
strict CSP on every answer, hashed assets cached, the API's paths left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.console import content_security_policy
from dev import console


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    built = tmp_path / "web" / "dist"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><title>diem</title>")
    (built / "assets" / "index-abc123.js").write_text("export {};")
    (built / ".stamp").write_text("digest")
    (tmp_path / "secret.txt").write_text("not for the browser")
    monkeypatch.setattr(console, "DIST", built)
    return built


def test_index_and_assets_with_the_policy(dist: Path) -> None:
    status, headers, body = console.response("/?code=abc&state=xyz")
    assert (status, body) == (200, b"<!doctype html><title>diem</title>")
    assert headers["Content-Type"] == "text/html; charset=utf-8" and headers["Cache-Control"] == "no-cache"
    assert headers["Content-Security-Policy"] == content_security_policy(None)
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    status, headers, _ = console.response("/assets/index-abc123.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/../secret.txt", "/assets/../../secret.txt", "/.stamp", "/nope.js", "/assets/"])
def test_nothing_outside_the_built_files(dist: Path, path: str) -> None:
    status, headers, body = console.response(path)
    assert status == 404 and b"not for the browser" not in body
    assert "Content-Security-Policy" in headers


def test_the_api_is_not_the_consoles() -> None:
    assert not console.is_console_path("/v1/health")
    assert not console.is_console_path("/v1")
    assert console.is_console_path("/")
    assert console.is_console_path("/v1x")


def test_not_built_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "DIST", tmp_path / "missing")
    status, _, body = console.response("/")
    assert status == 503 and b"make console" in body


def test_the_policy_allows_only_the_token_endpoints_origin() -> None:
    policy = content_security_policy("https://idp.example.com/oauth2/token?x=1")
    assert "connect-src 'self' https://idp.example.com;" in policy
    assert "connect-src 'self';" in content_security_policy("javascript:alert(1)")
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe" not in policy


class Rebuilt(Exception):
    pass


def test_the_build_runs_only_when_a_source_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A current stamp: nothing runs (no Node is even looked for); any source changed: a build."""
    web = tmp_path / "web"
    (web / "src").mkdir(parents=True)
    for name in ("index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts"):
        (web / name).write_text(name)
    (web / "src" / "main.tsx").write_text("render()")
    (web / "dist").mkdir()
    (web / "dist" / "index.html").write_text("built")
    monkeypatch.setattr(console, "WEB", web)
    monkeypatch.setattr(console, "DIST", web / "dist")
    monkeypatch.setattr(console, "STAMP", web / "dist" / ".stamp")

    def node_and_npm(install: bool = True) -> None:
        raise Rebuilt

    monkeypatch.setattr(console, "node_and_npm", node_and_npm)
    (web / "dist" / ".stamp").write_text(console.sources_digest())
    assert console.build() is False
    (web / "src" / "main.tsx").write_text("render(<App />)")
    with pytest.raises(Rebuilt):
        console.build()
