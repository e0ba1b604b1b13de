"""Package one stage for deployment, lean.

    python -m infra.package --stage dev [--out out] [--no-verify]

1. writes the stage's merge template (`infra.build`) to `out/<stage>/resources.json`;
2. runs `chalice package --merge-template` into `out/<stage>/` (sam.json, deployment.zip);
3. rewrites deployment.zip: drops what the Lambda Python runtime already provides
   (boto3, botocore, s3transfer, jmespath, dateutil, urllib3, six), packaging
   clutter (dist-info, caches, type stubs, tests), the parts of Powertools the
   code never imports and its Swagger UI assets; moves the compiled wheels
   (pydantic-core, cryptography, cffi) with their pure-Python halves (pydantic)
   to `deps-layer.zip`, the layer the template attaches to every function;
   ships bytecode compiled by the runtime's Python version (unchecked-hash
   .pyc in __pycache__: /var/task is read-only, so Lambda cannot write them);
4. verifies the result in an isolated interpreter that sees only the two zips
   and the runtime's own packages: imports the app and runs each kind of handler.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from infra import build

ROOT = build.ROOT
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
"""Import names the Lambda Python runtime ships in /var/runtime."""
LAYER_MODULES = (
    # the compiled wheels, each with the pure-Python half it is released in lockstep with
    *("pydantic_core", "pydantic", "annotated_types", "typing_inspection"),
    *("cryptography", "cffi", "_cffi_backend", "pycparser"),
)
"""What goes to the dependency layer: the pydantic and cryptography stacks."""
PRUNED = "aws_lambda_powertools"
"""A kitchen sink: only the subpackages that the code's imports reach ship."""
UNUSED_DATA = (
    # Swagger UI assets, read only by Powertools' own REST resolvers' enable_swagger();
    # diem routes with Chalice and serves its OpenAPI document as JSON
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js",
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui.min.css",
)
NOT_AT_RUNTIME = frozenset({(PRUNED, "event_handler")})
"""Powertools subpackages an import statement reaches but diem never runs: the
event handler (REST resolvers, 327 KB zipped) is imported only inside
`shared.functions.pydantic_to_dict`, which Logger calls to log an event that is a
pydantic model; diem's handlers get dicts, and routes are Chalice's. The
verification below runs every kind of handler from the zip without it."""
FUNCTION_ZIP_BUDGET = 2 * 1024 * 1024
TASK_DIR, LAYER_DIR = "/var/task", "/opt/python"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
ARTEFACTS = ("resources.json", "sam.json", "deployment.zip", "deps-layer.zip", "package-report.json")


@dataclass
class Result:
    """What was built, with sizes in bytes."""

    stage: str
    out: str
    template: str
    function_zip: str
    layer_zip: str
    chalice_zip_bytes: int
    function_zip_bytes: int
    layer_zip_bytes: int
    python: str  # the interpreter that compiled the bytecode (the runtime's version)
    python_version: str


# -- chalice package -------------------------------------------------------------


def chalice_package(stage: str, out: Path) -> Path:
    """`chalice package --merge-template` of this stage into `out` (our files in it replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ARTEFACTS:
        (out / name).unlink(missing_ok=True)
    merge = out / "resources.json"
    merge.write_text(build.dumps(build.template(stage)))
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice) if chalice.exists() else "chalice", "package", "--stage", stage]
    command += ["--merge-template", str(merge), str(out)]
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-southeast-1")}
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return out / "sam.json"


def runtime_python(template: Path) -> str:
    """An interpreter of the functions' runtime version (for the bytecode)."""
    runtimes = {
        resource["Properties"]["Runtime"]
        for resource in json.loads(template.read_text())["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    if len(runtimes) != 1:
        raise SystemExit(f"expected one runtime, found {sorted(runtimes)}")
    version = runtimes.pop().removeprefix("python")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if not found:
        raise SystemExit(f"python{version} is needed to compile bytecode for the Lambda runtime")
    return found


# -- slimming ---------------------------------------------------------------------


def _module_of(top: str) -> str:
    """Import name of a top-level zip entry (`six.py` -> six, `_x.cpython-311-....so` -> _x)."""
    return top.split(".", 1)[0]


def _clutter(parts: list[str]) -> bool:
    name = parts[-1]
    return (
        parts[0].endswith((".dist-info", ".data", ".egg-info"))
        or "__pycache__" in parts
        or name.endswith((".pyc", ".pyo", ".pyi"))
        or name == "py.typed"
        or any(p in ("tests", "test") for p in parts[1:-1])
    )


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(root: Path, entries: list[Path]) -> set[str]:
    """Every module under `root` that the entry files reach through import
    statements (at any depth, in functions too), with their parent packages."""
    seen: set[str] = set()
    queue = [(p.relative_to(root).with_suffix("").as_posix().replace("/", "."), p) for p in entries]
    while queue:
        name, path = queue.pop()
        name = name.removesuffix(".__init__")
        if name in seen:
            continue
        seen.add(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        wanted: set[str] = set()
        parts = name.split(".")
        wanted.update(".".join(parts[:i]) for i in range(1, len(parts)))
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                wanted.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join([*base, node.module] if node.module else base)
                else:
                    origin = node.module or ""
                wanted.add(origin)
                wanted.update(f"{origin}.{alias.name}" for alias in node.names)
        for module in wanted:
            mparts = module.split(".")
            for i in range(1, len(mparts) + 1):
                prefix = ".".join(mparts[:i])
                found = _module_file(root, prefix)
                if found and prefix not in seen:
                    queue.append((prefix, found))
    return seen


def _prune_unit(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """The Powertools subpackage a file belongs to (kept or dropped as a whole,
    so that a subpackage's own dynamic imports keep working)."""
    if parts[0] != PRUNED or len(parts) < 3:
        return None
    if parts[1] == "utilities":
        return parts[:3] if len(parts) > 3 else None
    return parts[:2]


def _write_zip(source: Path, target: Path, prefix: str = "") -> None:
    """Deterministic zip: sorted entries, fixed times, maximum compression."""
    files = sorted(p for p in source.rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(prefix + path.relative_to(source).as_posix(), _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if path.suffix == ".so" else 0o644) << 16
            zf.writestr(info, path.read_bytes(), compresslevel=9)


def _compile(python: str, directory: Path, shown_as: str) -> None:
    """Unchecked-hash bytecode in __pycache__, naming its source as Lambda sees it
    (the build's temporary path never ends up in the zip: reproducible bytes)."""
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    command += ["-s", str(directory), "-p", shown_as, str(directory)]
    subprocess.run(command, check=True)  # noqa: S603


def slim(chalice_zip: Path, work: Path, python: str) -> tuple[Path, Path]:
    """Split Chalice's deployment zip into the function tree and the layer tree
    under `work`, lean and compiled; return both directories."""
    function_dir, layer_dir = work / "function", work / "layer" / "python"
    with zipfile.ZipFile(chalice_zip) as zf:
        for info in zf.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or _clutter(parts) or _module_of(parts[0]) in RUNTIME_PROVIDED:
                continue
            if info.filename in UNUSED_DATA:
                continue
            target = layer_dir if _module_of(parts[0]) in LAYER_MODULES else function_dir
            path = target.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zf.read(info))
    ours = [function_dir / "app.py", *sorted((function_dir / "chalicelib").rglob("*.py"))]
    reached = imported_modules(function_dir, ours)
    kept_units = {_prune_unit(tuple(m.split("."))) for m in reached} | {
        _prune_unit((*m.split("."), "__init__.py")) for m in reached
    }
    kept_units -= NOT_AT_RUNTIME
    for path in sorted((function_dir / PRUNED).rglob("*")):
        unit = _prune_unit(path.relative_to(function_dir).parts)
        if path.is_file() and unit is not None and unit not in kept_units:
            path.unlink()
    for directory in sorted((p for p in function_dir.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    _compile(python, function_dir, TASK_DIR)
    _compile(python, layer_dir, LAYER_DIR)
    return function_dir, layer_dir


# -- verification -------------------------------------------------------------------

SMOKE = Path(__file__).with_name("lambda_smoke.py")


def runtime_stand_in(directory: Path) -> Path:
    """A directory with only the packages the Lambda runtime provides (as /var/runtime)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SystemExit(f"{name} is not installed here; it is needed to verify the package")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (directory / source.name).symlink_to(source)
    return directory


def verify(function_zip: Path, layer_zip: Path, python: str) -> dict[str, object]:
    """Unzip both artefacts as Lambda does (/var/task, /opt) and run every kind of
    handler from them in an interpreter that has no site-packages, only the
    runtime's own packages. Raises if anything is missing; returns what it saw."""
    with tempfile.TemporaryDirectory(prefix="diem-verify-") as tmp:
        work = Path(tmp)
        zipfile.ZipFile(function_zip).extractall(work / "task")
        zipfile.ZipFile(layer_zip).extractall(work / "opt")
        return _run_smoke(work / "task", work / "opt" / "python", python, work)


def _run_smoke(function_dir: Path, layer_dir: Path, python: str, work: Path) -> dict[str, object]:
    runtime_dir = runtime_stand_in(work / "runtime")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "AWS_ACCESS_KEY_ID": "verify",
        "AWS_SECRET_ACCESS_KEY": "verify",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "DIEM_DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
        "DIEM_JWT_SECRET": "verify-secret-0123456789abcdef0123456789",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    done = subprocess.run(  # noqa: S603
        [python, "-S", "-I", str(SMOKE), str(function_dir), str(layer_dir), str(runtime_dir)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the lean package does not run:\n{done.stderr[-4000:]}")
    checks: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    problems = []
    if checks["health"] != 200 or checks["openapi"] != 200:
        problems.append("health/openapi did not answer 200")
    if checks["authorizer"] != "crm-1" or checks["rs256"] != "x":
        problems.append("token verification failed")
    # DynamoDB is unreachable on purpose: a route that got as far as calling it answers
    # 503 (a connection that fails is retryable), with everything its path imports loaded
    if checks["points"] != 503:
        problems.append("the points route did not reach DynamoDB")
    if "JSONDecodeError" not in checks.get("consumer", []) or len(checks["consumer"]) != 2:
        problems.append("the consumer did not reject the bad message and try the good one")
    if checks.get("events") != {"batchItemFailures": []} or checks.get("deliveries") != ["ValueError"]:
        problems.append("the events function or the deliveries consumer did not run")
    if checks.get("signature") != "v1,":
        problems.append("webhook signing (standardwebhooks) did not run")
    if checks["without_bytecode"]:
        problems.append(f"modules imported without shipped unchecked-hash bytecode: {checks['without_bytecode']}")
    if checks["outside"]:
        problems.append(f"modules loaded from outside the package: {checks['outside']}")
    if problems:
        raise RuntimeError("; ".join(problems) + f"\n{json.dumps(checks)}\n{done.stderr[-2000:]}")
    return checks


# -- the whole run -------------------------------------------------------------------


def package(stage: str, out: Path, check: bool = True) -> Result:
    """chalice package, then the lean function zip and the dependency layer in `out`."""
    template = chalice_package(stage, out)
    chalice_zip = out / "deployment.zip"
    chalice_bytes = chalice_zip.stat().st_size
    python = runtime_python(template)
    with tempfile.TemporaryDirectory(prefix="diem-package-") as tmp:
        work = Path(tmp)
        function_dir, layer_dir = slim(chalice_zip, work, python)
        _write_zip(function_dir, chalice_zip)
        layer_zip = out / "deps-layer.zip"
        _write_zip(layer_dir, layer_zip, prefix="python/")
    if check:
        verify(chalice_zip, layer_zip, python)
    result = Result(
        stage=stage,
        out=str(out),
        template=str(template),
        function_zip=str(chalice_zip),
        layer_zip=str(layer_zip),
        chalice_zip_bytes=chalice_bytes,
        function_zip_bytes=chalice_zip.stat().st_size,
        layer_zip_bytes=layer_zip.stat().st_size,
        python=python,
        python_version=_version(python),
    )
    (out / "package-report.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def _version(python: str) -> str:
    return subprocess.run([python, "--version"], capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.2f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=sorted(build.STAGES), default="dev")
    parser.add_argument("--out", type=Path, default=ROOT / "out", help="parent directory (default: out/)")
    parser.add_argument("--no-verify", action="store_true", help="skip running the lean package")
    args = parser.parse_args(argv)
    result = package(args.stage, args.out / args.stage, check=not args.no_verify)
    within = "within" if result.function_zip_bytes <= FUNCTION_ZIP_BUDGET else "OVER"
    print(f"chalice's zip      {_mb(result.chalice_zip_bytes)}")
    print(f"function zip       {_mb(result.function_zip_bytes)}  ({within} the 2 MB budget)  {result.function_zip}")
    print(f"dependency layer   {_mb(result.layer_zip_bytes)}  {result.layer_zip}")
    shipped = result.function_zip_bytes + result.layer_zip_bytes
    print(f"shipped in total   {_mb(shipped)}  (bytecode: {result.python_version})")
    print(f"template           {result.template}")
    packaged = Path(result.out) / "packaged.json"
    jwks = " --parameter-overrides JwtJwksUrl=https://<idp>/.well-known/jwks.json" if args.stage == "prod" else ""
    print(
        f"deploy: aws cloudformation package --template-file {result.template} --s3-bucket <bucket> "
        f"--output-template-file {packaged} && aws cloudformation deploy --template-file {packaged} "
        f"--stack-name diem-{args.stage} --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND{jwks}"
    )
    return 0 if result.function_zip_bytes <= FUNCTION_ZIP_BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
