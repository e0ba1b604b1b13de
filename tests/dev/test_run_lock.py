"""requirements-run.lock is what pip resolves for requirements-run.txt (what
`make run` installs with --no-deps must be the set a resolver would pick)."""

from __future__ import annotations

from dev import lock


def test_the_run_lock_is_what_pip_resolves() -> None:
    resolved = lock.resolve()
    locked = lock.read_lock()
    assert locked == resolved, (
        f"requirements-run.lock is stale: missing {sorted(set(resolved) - set(locked))}, "
        f"extra {sorted(set(locked) - set(resolved))}; run `python -m dev.lock`"
    )


def test_the_run_lock_pins_everything_requirements_run_names() -> None:
    locked = {pin.split("==")[0] for pin in lock.read_lock()}
    for name in ("boto3", "botocore", "chalice", "moto", "flask", "flask-cors", "pynamodb", "pydantic", "pyjwt"):
        assert name in locked
    # the point of leaving out moto's [server] extra
    assert not locked & {"cfn-lint", "sympy", "networkx", "graphql-core", "aws-xray-sdk"}


def test_the_two_installers_split_the_lock_between_them() -> None:
    from dev import install_lock

    pins = lock.read_lock()
    groups = install_lock.split(pins)
    assert len(groups) == 2
    assert sorted(pin for group in groups for pin in group) == sorted(pins)  # each once
    heavy = [
        next(i for i, group in enumerate(groups) if any(p.startswith(f"{name}==") for p in group))
        for name in ("moto", "botocore")
    ]
    assert heavy[0] != heavy[1], groups
