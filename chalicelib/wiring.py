"""Dependencies created lazily in one place, and the glue between Chalice and
the domain packages (middleware, SQS batch, OpenAPI). Heavy modules are
imported on first use, so a cold start pays only for what the request needs."""

from __future__ import annotations

import json
from types import ModuleType
from typing import TYPE_CHECKING, Any

from chalicelib import observability
from chalicelib.api.http import correlation_id, unexpected_error_response
from chalicelib.auth import authenticate_bearer
from chalicelib.errors import DiemError
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.subscribers import normalise_msisdn

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse


def authorizer_verdict(token: str | None) -> dict[str, Any]:
    """principal_id and context for the API Gateway authorizer's response."""
    try:
        principal = authenticate_bearer(token)
    except DiemError as exc:
        return {"principal_id": "anonymous", "context": {"auth_error": exc.message}}
    return {"principal_id": principal.subject, "context": principal.to_context()}


def points() -> ModuleType:
    from chalicelib.points import service

    return service


def subscribers() -> ModuleType:
    from chalicelib.subscribers import service

    return service


def campaigns() -> ModuleType:
    from chalicelib.campaigns import service

    return service


def vouchers() -> ModuleType:
    from chalicelib.vouchers import service

    return service


def partners() -> ModuleType:
    from chalicelib.partners import service

    return service


def console() -> ModuleType:
    from chalicelib import console

    return console


def redemptions() -> ModuleType:
    from chalicelib.partners import redemptions as module

    return module


def gateways() -> ModuleType:
    from chalicelib.channels import gateways as module

    return module


def ussd() -> ModuleType:
    from chalicelib.channels import ussd as module

    return module


def sms() -> ModuleType:
    from chalicelib.channels import sms as module

    return module


def jobs() -> ModuleType:
    from chalicelib import jobs as jobs_module

    return jobs_module


# -- network products (chalicelib/products) ---------------------------------------


def products() -> ModuleType:
    from chalicelib.products import catalogue

    return catalogue


def product_orders() -> ModuleType:
    from chalicelib.products import orders

    return orders


def product_settlement() -> ModuleType:
    from chalicelib.products import settlement

    return settlement


def accrue_event(event: Any, idem: Idempotency | None) -> Reply:
    reply: Reply = points().accrue(
        event.event_id, normalise_msisdn(event.msisdn), event.amount_vnd, event.service, event.occurred_at, idem
    )
    return reply


# -- middleware --------------------------------------------------------------


def http_middleware(event: Any, get_response: Any) -> Any:
    """Correlation id on every log line and response; never an unlogged 500,
    and throttling that escaped everything else is a 503 with Retry-After."""
    cid = correlation_id(event)
    log = observability.logger()
    log.set_correlation_id(cid)
    try:
        with observability.traced("## http", correlation_id=cid):
            response = get_response(event)
    except Exception as exc:
        response = unexpected_error_response(exc, event, {"path": getattr(event, "path", None)})
    response.headers["X-Correlation-Id"] = cid
    if response.status_code >= 500:
        observability.count("ServerErrors")
    return response


def all_middleware(event: Any, get_response: Any) -> Any:
    try:
        return get_response(event)
    finally:
        observability.flush()


# -- SQS ---------------------------------------------------------------------


def consume_spend_events(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Powertools batch processing: a bad message is reported (and, after
    maxReceiveCount, parked in the dead-letter queue) without failing the rest."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from chalicelib.api.models import SpendEventIn

    log = observability.logger()

    def handle(record: Any) -> None:
        try:
            payload = SpendEventIn.model_validate(json.loads(record.body))
        except ValueError:
            log.error("invalid spend event parked", extra={"message_id": record.message_id})
            observability.count("InvalidSpendEvents")
            raise
        accrue_event(payload, None)

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)


# -- jobs fan-out --------------------------------------------------------------


def work_job_tasks(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The jobs queue's batch (chalicelib/jobs/fanout.py)."""
    from chalicelib.jobs import fanout

    return fanout.handle_sqs(event, context)


# -- OpenAPI -----------------------------------------------------------------


_document: dict[str, Any] | None = None


def openapi_document(specs: list[Any]) -> dict[str, Any]:
    global _document
    if _document is None:
        from chalicelib.api.openapi import build

        _document = build(specs)
    return _document


# -- events, webhooks, notifications (API.md "Events and webhooks") --------------


def events_feed() -> ModuleType:
    from chalicelib.events import feed

    return feed


def webhooks() -> ModuleType:
    from chalicelib.webhooks import service

    return service


def consume_stream(event: Any) -> PartialItemFailureResponse:
    """The events function: a batch of change-stream records (Chalice's DynamoDBEvent)."""
    from chalicelib.events import handler

    return handler.handle_batch(event.to_dict(), event.context)


def consume_deliveries(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The deliveries queue: a webhook attempt or a notification SMS per message,
    failures reported per message (after 5 receives, the dead-letter queue)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle(record: Any) -> None:
        message = json.loads(record.body)
        kind = message.get("kind") if isinstance(message, dict) else None
        if kind == "webhook":
            from chalicelib.webhooks import deliveries

            deliveries.attempt(str(message["webhook_id"]), str(message["position"]), int(message["attempt"]))
        elif kind == "sms":
            from chalicelib.notify import service as notify

            notify.send(str(message["notification_id"]))
        else:
            raise ValueError(f"not a deliveries message: {kind!r}")

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)


def notify_expiring() -> dict[str, int]:
    from chalicelib.events import expiring

    return expiring.notify_expiring()


# -- households ----------------------------------------------------------------


def households() -> ModuleType:
    from chalicelib.households import service

    return service


def normalise(raw: str) -> str:
    """A subscriber's MSISDN from a request body, normalised (400 if it is none)."""
    return normalise_msisdn(raw)


def member_from_path(raw: str) -> str:
    """A household member's MSISDN from the path (400 if it is none)."""
    from chalicelib.subscribers import msisdn_from_path

    return msisdn_from_path(raw)
