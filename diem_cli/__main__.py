"""`python -m diem_cli`: the same as the `diem` command."""

from diem_cli.main import run

run()
