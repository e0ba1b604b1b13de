"""Scheduled jobs fanned out: one task per due partition, worked in parallel,
checkpointed, resumable.

A schedule (`run_schedule`) turns a job into tasks, one per due-index partition
(`<date or month>#<shard>`: 7 days x 16 shards for the daily expiry). With a
queue configured (`DIEM_JOBS_QUEUE_URL`, in Lambda) it puts them on the jobs
queue and returns; the `job_worker` function (app.py, an SQS event source)
works each task (`handle_sqs`), many workers in parallel. Without one (make
run, the tests) the schedule works its tasks itself, in parallel threads,
and returns the totals, as the jobs always did.

A task is one page of a partition: a worker (`work`) reads up to `PAGE` keys
(in index order, after the task's `after`); if the partition goes on, it
records where its page ends and hands the rest to a new task first (`spawn`:
the queue, or the local pool), so one month-end partition of millions of
subscribers is worked by as many workers as there are pages and workers, not
by one. It works its page in chunks of `CHUNK` keys on `THREADS` threads, and
after each chunk moves its checkpoint (`chalicelib.jobs.checkpoint`) to the
chunk's last key, conditionally. A worker killed mid-chunk is redelivered by
SQS and resumes after the last checkpoint, up to its page's end: it redoes at
most that chunk, and the work per key is idempotent (ledger entries keyed by
their cause, writes conditional on the balance's `seq`, a voucher's status),
so nothing is applied twice. A task that runs short of time re-enqueues itself
and stops at a checkpoint. A partition whose keys fit in one chunk writes no
checkpoint at all: its work leaves the partition (the sparse key moves on), so
a redelivery finds little or nothing left.

Metrics (observability, namespace Diem): `JobKeysDone`, `JobKeyFailures`,
`JobTasksDone`, `JobTaskFailures`, and `JobLagSeconds` (how long after its
schedule a task checkpoints or finishes; infra alarms when it passes the night).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib import clock, config, observability
from chalicelib.config import rules
from chalicelib.jobs import checkpoint

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

log = logging.getLogger(__name__)

PAGE = 5_000  # keys one task works; the rest of its partition is another task (another worker)
CHUNK = 100  # keys between two checkpoints
THREADS = 8  # keys one worker works at once
LOCAL_WORKERS = 8  # tasks worked at once when there is no queue
CONTINUE_BELOW_MS = 60_000  # a worker with less time left re-enqueues its task and stops
_SEND_BATCH = 10  # SQS SendMessageBatch maximum


@dataclass(frozen=True)
class Task:
    """One due partition of one run of a job."""

    job: str
    partition: str
    run: str
    at: str  # the schedule's instant (ISO 8601): the lag is measured from it
    resume: bool = False  # a continuation: its checkpoint exists
    after: str | None = None  # the task's page starts after this key (None: the partition's start)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Task:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Job:
    """What a job reads and does: the sparse index (keys only) whose partitions
    are its tasks, the attribute that is both the index's sort key and the
    table's key, the periods due on a day, the work per key ("done" or
    "skipped"; raising is a failure), and the totals it reports."""

    name: str
    index: Any
    index_key: str
    key: str
    periods: Callable[[date], list[str]]
    work: Callable[[str, Task], str]
    summary: Callable[[Counter[str], int], dict[str, int]]

    def _start(self, partition: str, after: str | None) -> dict[str, Any] | None:
        return {self.index_key: {"S": partition}, self.key: {"S": after}} if after is not None else None

    def page(self, partition: str, after: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to `limit` keys after `after`, and whether the partition may go on."""
        found = self.index.query(partition, last_evaluated_key=self._start(partition, after), limit=limit)
        keys = [str(getattr(item, self.key)) for item in found]
        return keys, len(keys) == limit and found.last_evaluated_key is not None

    def keys(self, partition: str, after: str | None, upto: str | None) -> Iterator[str]:
        """The keys after `after` and up to `upto` (None: to the end), paged."""
        condition = getattr(type(self.index), self.key) <= upto if upto is not None else None
        start = self._start(partition, after)
        for item in self.index.query(partition, condition, last_evaluated_key=start, page_size=CHUNK):
            yield str(getattr(item, self.key))


_JOBS: dict[str, Job] = {}


def register(job: Job) -> Job:
    _JOBS[job.name] = job
    return job


def job(name: str) -> Job:
    if name not in _JOBS:  # the modules that register them
        import chalicelib.events.expiring
        import chalicelib.jobs.due
        import chalicelib.vouchers.expiry  # noqa: F401
    return _JOBS[name]


def partitions(periods: Iterable[str]) -> list[str]:
    return [f"{period}#{shard}" for period in periods for shard in range(rules().due_index_shards)]


def plan(name: str, today: date, run: str) -> list[Task]:
    at = clock.iso(clock.now())
    return [Task(name, partition, run, at) for partition in partitions(job(name).periods(today))]


# -- the worker --------------------------------------------------------------------


@dataclass
class Progress:
    """What one worker did to one task."""

    counts: Counter[str]
    finished: bool  # no key left (or another worker owns the task)
    started_after: str | None = None  # the checkpoint it resumed from
    superseded: bool = False


def _chunks(keys: Iterator[str], size: int) -> Iterator[tuple[list[str], bool]]:
    """Chunks of `size` keys, each with whether more keys follow."""
    chunk: list[str] = []
    for key in keys:
        if len(chunk) == size:
            yield chunk, True
            chunk = []
        chunk.append(key)
    if chunk:
        yield chunk, False


def _lag(task: Task) -> None:
    seconds = (clock.now() - clock.parse_iso(task.at)).total_seconds()
    observability.measure("JobLagSeconds", max(0.0, seconds))


def work(
    task: Task,
    *,
    fresh: bool = True,
    spawn: Callable[[Task], None] | None = None,
    out_of_time: Callable[[], bool] = lambda: False,
    before_key: Callable[[str], None] | None = None,
) -> Progress:
    """Work `task` from its checkpoint (none is read when `fresh`: a first
    delivery, whose checkpoint cannot exist yet) to its page's end, or until
    `out_of_time()` after a checkpoint. A first delivery whose partition goes on
    beyond its page hands the rest to `spawn` (None: this worker works it too).
    `before_key` is called before each key (the tests kill a worker there)."""
    spec = job(task.job)
    saved = None if fresh else checkpoint.load(task)
    if saved is not None and saved.done:
        return Progress(Counter(), True, saved.cursor)
    progress = Progress(Counter(), False, saved.cursor if saved is not None and saved.cursor else task.after)
    if saved is not None and saved.last_key is not None and spawn is not None:
        # a redelivery of a task that split: the next page may never have been queued (it failed
        # right after its checkpoint); queued again, a duplicate finds that page's checkpoint and stops
        spawn(replace(task, after=saved.last_key, resume=False))
    keys: Iterable[str]
    try:
        if saved is None and spawn is not None:
            page, more = spec.page(task.partition, task.after, PAGE)
            if more:  # the rest of the partition is the next task's, for another worker
                checkpoint.start(task, page[-1])
                spawn(replace(task, after=page[-1], resume=False))
                saved = checkpoint.Saved(None, page[-1], 0, 0, False)
            keys = page
        else:
            upto = saved.last_key if saved is not None else None
            keys = spec.keys(task.partition, progress.started_after, upto)
    except checkpoint.Superseded:
        progress.superseded = progress.finished = True
        return progress
    cursor = saved.cursor if saved is not None else None
    written = saved is not None

    def one(key: str) -> str:
        if before_key is not None:
            before_key(key)
        try:
            return spec.work(key, task)
        except Exception as exc:  # one key's failure is counted and left for the next run
            log.warning("job work failed for one key", extra={"job": task.job, "error": type(exc).__name__})
            observability.count("JobKeyFailures")
            return "failed"

    pool: ThreadPoolExecutor | None = None
    try:
        for chunk, more in _chunks(iter(keys), CHUNK):
            pool = pool or ThreadPoolExecutor(THREADS, thread_name_prefix=f"job-{task.job}")
            done = Counter(pool.map(one, chunk))
            if more or written:  # a single-chunk task needs no checkpoint
                try:
                    checkpoint.advance(task, written, cursor, chunk[-1], done, done=not more)
                except checkpoint.Superseded:
                    log.info("task taken over by another worker", extra={"job": task.job})
                    progress.superseded = progress.finished = True
                    return progress
                written = True
                _lag(task)
            cursor = chunk[-1]
            progress.counts.update(done)
            observability.count("JobKeysDone", len(chunk))
            if more and out_of_time():
                return progress
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    progress.finished = True
    observability.count("JobTasksDone")
    _lag(task)
    return progress


# -- dispatch ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _sqs() -> Any:
    import botocore.session

    return botocore.session.get_session().create_client("sqs", region_name=config.settings().region)


def enqueue(url: str, tasks: list[Task]) -> None:
    """Put `tasks` on the jobs queue (SendMessageBatch, retrying refused entries once)."""
    for start in range(0, len(tasks), _SEND_BATCH):
        entries = [{"Id": str(n), "MessageBody": t.to_json()} for n, t in enumerate(tasks[start : start + _SEND_BATCH])]
        for attempt in range(2):
            failed = _sqs().send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
            refused = {f["Id"] for f in failed}
            entries = [e for e in entries if e["Id"] in refused]
            if not entries:
                break
            if attempt:
                raise RuntimeError(f"the jobs queue refused {len(entries)} task(s): {failed}")


def run_schedule(name: str, today: date | None = None, run: str | None = None, workers: int = LOCAL_WORKERS) -> Any:
    """One scheduled run of job `name`: its tasks queued (a queue is configured),
    or worked here in parallel with the job's totals returned."""
    today = today or clock.today()
    tasks = plan(name, today, run or f"{today.isoformat()}-{uuid.uuid4().hex[:8]}")
    url = config.settings().jobs_queue_url
    if url:
        enqueue(url, tasks)
        log.info("job fanned out", extra={"job": name, "tasks": len(tasks)})
        return {"tasks": len(tasks), "partitions": len(tasks)}
    totals: Counter[str] = Counter()
    lock = threading.Lock()
    pending: list[Any] = []
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"schedule-{name}")

    def local(task: Task) -> None:
        try:
            counts = work(task, spawn=lambda rest: submit(rest)).counts
        except Exception as exc:  # the partition could not be read or checkpointed: the next run does it
            log.warning(
                "due partition unread; left for the next run",
                extra={"partition": task.partition, "error": type(exc).__name__},
            )
            observability.count("JobTaskFailures")
            observability.count("DueWorkFailures")
            counts = Counter(failed=1)
        with lock:
            totals.update(counts)

    def submit(task: Task) -> None:
        with lock:
            pending.append(pool.submit(local, task))

    try:
        for task in tasks:
            submit(task)
        while True:  # tasks spawn tasks (the next page of a long partition)
            with lock:
                waiting = [f for f in pending if not f.done()]
            if not waiting:
                break
            for future in waiting:
                future.result()
    finally:
        pool.shutdown(wait=True)
    return job(name).summary(totals, len(tasks))


def queue_url() -> str:
    url = config.settings().jobs_queue_url
    if not url:
        raise RuntimeError("DIEM_JOBS_QUEUE_URL is not set: no jobs queue to put tasks on")
    return url


def handle_sqs(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The jobs queue's batch (one task a message): each task worked; a task that
    raises is reported failed and redelivered after the visibility timeout, to
    resume from its checkpoint; one short of time continues in a new message."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle(record: Any, lambda_context: Any = None) -> None:
        task = Task.from_json(record.body)
        first = int(record.attributes.approximate_receive_count or 1) == 1 and not task.resume

        def out_of_time() -> bool:
            remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
            return remaining is not None and remaining() < CONTINUE_BELOW_MS

        try:
            progress = work(task, fresh=first, spawn=lambda rest: enqueue(queue_url(), [rest]), out_of_time=out_of_time)
        except Exception:
            observability.count("JobTaskFailures")
            raise
        if not progress.finished:
            enqueue(queue_url(), [replace(task, resume=True)])

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
