"""Size of the deployment package: the zip, and the 15 largest packages in it.

    python bench/package_size.py [out/dev/deployment.zip ...]

With no argument it measures `out/dev/` (built first if missing), both the
function zip and the dependency layer. Sizes are compressed bytes in the zip.
"""

from __future__ import annotations

import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = (ROOT / "out" / "dev" / "deployment.zip", ROOT / "out" / "dev" / "deps-layer.zip")
BUDGET = 2 * 1024 * 1024
TOP = 15


def package_of(name: str) -> str:
    """`python/pydantic_core/x.so` -> pydantic_core; `six.py` -> six."""
    parts = name.split("/")
    if parts[0] == "python" and len(parts) > 1:  # layer layout
        parts = parts[1:]
    if parts[0] == "__pycache__" and len(parts) == 2:  # bytecode of a top-level module
        parts = parts[1:]
    return parts[0].split(".", 1)[0] if len(parts) == 1 else parts[0]


def sizes(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(zip size, compressed bytes per package, uncompressed bytes per package)."""
    compressed: Counter[str] = Counter()
    raw: Counter[str] = Counter()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            compressed[package_of(info.filename)] += info.compress_size
            raw[package_of(info.filename)] += info.file_size
    return path.stat().st_size, compressed, raw


def report(path: Path) -> int:
    total, compressed, raw = sizes(path)
    print(f"{path}: {total / 1024 / 1024:.2f} MB zipped, {sum(raw.values()) / 1024 / 1024:.2f} MB unzipped")
    for name, size in compressed.most_common(TOP):
        print(f"  {size / 1024:9.1f} KB  ({raw[name] / 1024:9.1f} KB unzipped)  {name}")
    return total


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print the report; return the sizes in bytes (for bench's JSON)."""
    paths = [Path(a) for a in argv or []]
    if not paths:
        if not all(p.exists() for p in DEFAULT):
            print("no package in out/dev: building it (python -m infra.package --stage dev)")
            from infra import package

            package.package("dev", DEFAULT[0].parent)
        paths = list(DEFAULT)
    totals = {str(p): report(p) for p in paths}
    function_zip = next(iter(totals.values()))
    if len(totals) > 1:
        print(f"shipped in total: {sum(totals.values()) / 1024 / 1024:.2f} MB")
    verdict = "within" if function_zip <= BUDGET else "OVER"
    print(f"function zip {function_zip / 1024 / 1024:.2f} MB: {verdict} the 2 MB target")
    return {"zips": totals, "function_zip_bytes": function_zip, "within_target": function_zip <= BUDGET}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
