"""What both state machines share: their settings and the database fixture."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from chalicelib import config


def machine_settings() -> settings:
    """The loaded Hypothesis profile, overridable with DIEM_STATEFUL_EXAMPLES / DIEM_STATEFUL_STEPS."""
    return settings(
        max_examples=int(os.environ.get("DIEM_STATEFUL_EXAMPLES", "0")) or settings.default.max_examples,
        stateful_step_count=int(os.environ.get("DIEM_STATEFUL_STEPS", "0")) or settings.default.stateful_step_count,
        deadline=None,
    )


@pytest.fixture
def stateful_db(engine_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The engine for a machine; each example makes its own tables."""
    os.environ["DIEM_DYNAMODB_ENDPOINT"] = engine_endpoint
    config.reset()
    # two due-index shards instead of 16: the jobs read the same way, with fewer empty partitions
    monkeypatch.setattr(config, "_rules", dataclasses.replace(config.rules(), due_index_shards=2))
    yield
    os.environ.pop("DIEM_DYNAMODB_ENDPOINT", None)
    os.environ.pop("DIEM_TABLE_PREFIX", None)
    config.reset()
