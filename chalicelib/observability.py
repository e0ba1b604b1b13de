"""Powertools for AWS Lambda, set up once: JSON logs with a correlation id,
CloudWatch metrics in EMF, X-Ray tracing (off outside Lambda)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "diem"
NAMESPACE = "Diem"


@lru_cache(maxsize=1)
def logger() -> Logger:
    from aws_lambda_powertools import Logger

    from chalicelib import config

    return Logger(service=SERVICE, level=config.settings().log_level)


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    from chalicelib import config

    m = Metrics(namespace=NAMESPACE, service=SERVICE)
    m.set_default_dimensions(stage=config.settings().stage)
    return m


@lru_cache(maxsize=1)
def tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    from chalicelib import config

    s = config.settings()
    return Tracer(service=SERVICE, disabled=not (s.in_lambda and s.tracing))


def traced(name: str, **annotations: str) -> AbstractContextManager[Any]:
    """An X-Ray subsegment with annotations around a request, when tracing is
    on (DIEM_TRACING=true, in Lambda); otherwise nothing."""
    from chalicelib import config

    s = config.settings()
    if not (s.in_lambda and s.tracing):
        return nullcontext()
    return _subsegment(name, annotations)


@contextmanager
def _subsegment(name: str, annotations: dict[str, str]) -> Iterator[Any]:
    with tracer().provider.in_subsegment(name) as subsegment:
        for key, value in annotations.items():
            if subsegment is not None:  # None when no trace is active
                subsegment.put_annotation(key, value)
        yield subsegment


def count(name: str, value: int = 1) -> None:
    """Add to a count metric (flushed at the end of the invocation)."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def measure(name: str, value: float, unit: str = "Seconds") -> None:
    """Record a measured value (a lag in seconds, ...), flushed at the end of the invocation."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics().add_metric(name=name, unit=MetricUnit(unit), value=value)


def flush() -> None:
    """Emit the invocation's metrics (nothing when none were counted), then
    forget them: with metrics disabled (`make run`, the tests, the bench)
    Powertools keeps them, and they would pile up to its 100 values per metric,
    which it then prints to stdout anyway."""
    m = metrics()
    if m.metric_set:
        m.flush_metrics(raise_on_empty_metrics=False)
        m.clear_metrics()
