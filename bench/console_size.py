"""The web console's first load: the JavaScript and CSS that index.html pulls in,
gzipped, against TARGETS.md's 150 KB.

    python -m bench.console_size

Builds web/ first if it is not current (dev/console.py). First load = every
script and stylesheet index.html names (with its module preloads); the chunks
those import later, if any, are listed apart. Gzip at level 9, as a CDN or
CloudFront compressing text would send them (brotli is smaller still).
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 150 * 1024
_REFERENCE = re.compile(r"""<(?:script[^>]*\ssrc|link[^>]*\shref)=["']([^"']+\.(?:js|css))["']""")


def first_load(dist: Path) -> list[Path]:
    """The JS and CSS files index.html makes the browser fetch at once."""
    html = (dist / "index.html").read_text()
    return [dist / ref.lstrip("/") for ref in dict.fromkeys(_REFERENCE.findall(html))]


def measure(dist: Path) -> dict[str, Any]:
    files = first_load(dist)
    sizes = {str(f.relative_to(dist)): (f.stat().st_size, len(gzip.compress(f.read_bytes(), 9))) for f in files}
    later = sorted(p for p in (dist / "assets").glob("*") if p.suffix in (".js", ".css") and p not in files)
    total = sum(gz for _, gz in sizes.values())
    return {
        "files": {name: {"bytes": raw, "gzip_bytes": gz} for name, (raw, gz) in sizes.items()},
        "first_load_gzip_bytes": total,
        "budget_bytes": BUDGET,
        "within_target": total <= BUDGET,
        "loaded_later": [str(p.relative_to(dist)) for p in later],
    }


def main() -> dict[str, Any]:
    from dev import console

    built = console.build(quiet=True)
    result = measure(console.DIST)
    print(f"web/dist ({'built now' if built else 'current'}): first load, gzip -9")
    for name, size in result["files"].items():
        print(f"  {size['gzip_bytes'] / 1024:7.1f} KB  ({size['bytes'] / 1024:7.1f} KB raw)  {name}")
    total = result["first_load_gzip_bytes"]
    verdict = "within" if result["within_target"] else "OVER"
    print(f"first load {total / 1024:.1f} KB of JS+CSS gzipped: {verdict} the 150 KB target")
    if result["loaded_later"]:
        print(f"  loaded later: {', '.join(result['loaded_later'])}")
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
