"""The events function: one batch of change-stream records at a time.

A record of a business table becomes its events (`derive`), written to the
events table (`feed`); a record of the events table itself (a new event) is
dispatched to webhooks and notifications (`dispatch`). Records are handled in
order and failures reported per record (Powertools' batch processor, the
mapping's `ReportBatchItemFailures`); after the first failure the rest of the
batch is reported failed unhandled, so the retry, which starts at the first
failure, sees every item's changes in commit order again. A batch that fails
whole is bisected by the mapping, and a record that keeps failing goes to the
dead-letter destination (infra/).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib import config, observability
from chalicelib.events import derive, feed, images

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

EVENTS_TABLE = "events"


class HeldBack(Exception):
    """Not handled: an earlier record of this batch failed, and order matters."""


def table_of(source_arn: str) -> str | None:
    """The table (without the stage's prefix) of `arn:...:table/<name>/stream/<label>`."""
    _, _, rest = source_arn.partition(":table/")
    name = rest.split("/", 1)[0]
    prefix = config.settings().table_prefix
    return name[len(prefix) :] if name and name.startswith(prefix) else None


def change_of(table: str, record: dict[str, Any]) -> derive.Change:
    body = record["dynamodb"]
    at = datetime.fromtimestamp(float(body["ApproximateCreationDateTime"]), UTC)
    return derive.Change(
        table=table,
        name=str(record["eventName"]),
        old=images.image(body.get("OldImage")),
        new=images.image(body.get("NewImage")),
        at=at,
    )


def _resolve(found: derive.Derived) -> derive.Event | None:
    if isinstance(found, derive.Event):
        return found
    from chalicelib.campaigns import shards
    from chalicelib.store import Campaign

    try:
        campaign = Campaign.get(found.campaign_id, consistent_read=True)
    except Campaign.DoesNotExist:
        return None
    count = int(campaign.shard_count or 0)
    items = shards.read(found.campaign_id, range(count)).values()
    return derive.sold_out(
        {
            "campaign_id": campaign.campaign_id,
            "name": campaign.name,
            "status": campaign.status,
            "partner_id": campaign.partner_id,
            "shard_count": count,
        },
        [{"stock": int(i.stock or 0), "issued": int(i.issued or 0)} for i in items],
        found.at,
    )


def process(record: dict[str, Any]) -> int:
    """Handle one stream record; how many event items it wrote or dispatched."""
    table = table_of(str(record.get("eventSourceARN", "")))
    if table is None:
        return 0
    if table == EVENTS_TABLE:
        from chalicelib.events import dispatch

        return dispatch.dispatch(record)
    written = 0
    for found in derive.derive(change_of(table, record)):
        event = _resolve(found)
        if event is not None:
            written += feed.write(event)
    if written:
        observability.count("EventsWritten", written)
    return written


def handle_batch(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    log = observability.logger()
    failed: list[str] = []

    def handle(record: Any) -> None:
        if failed:
            raise HeldBack(failed[0])
        try:
            process(record.raw_event)
        except Exception as exc:
            failed.append(str(record.dynamodb.sequence_number))
            log.exception("stream record failed", extra={"sequence": failed[0], "error": type(exc).__name__})
            observability.count("EventRecordFailures")
            raise

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
