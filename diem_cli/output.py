"""What the command line prints: Rich tables and progress for people (stderr for
progress and messages), plain JSON on stdout for scripts (`--json`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def emit_json(value: Any) -> None:
    """One JSON document (or line) on stdout, as scripts read it."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """A message for the person (stderr: stdout stays the command's output)."""
    err.print(message, markup=False, soft_wrap=True)


def table(
    title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]], no_wrap: Iterable[str] = ()
) -> None:
    grid = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    whole = set(no_wrap)
    for name in columns:
        grid.add_column(name, overflow="fold", no_wrap=name in whole, min_width=len(name))
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(grid)


def fields(title: str, values: Mapping[str, Any]) -> None:
    """A two-column table: name, value."""
    table(title, ("field", "value"), values.items())


def progress(*, total: bool = True, enabled: bool = True) -> Progress:
    """A progress bar on stderr (a spinner and a count where the total is unknown)."""
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total:
        columns += [BarColumn(), MofNCompleteColumn()]
    else:
        columns += [TextColumn("{task.completed}")]
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=err, disable=not enabled, transient=False)
