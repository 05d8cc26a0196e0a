"""`newsletter mailbox`: read every pending message of a Maildir or an IMAP folder, a batch at a
time: classify (in worker processes for a Maildir, reading only what a report needs), write
the batch to the database in one transaction, then file each message away (processed, or set
aside as unrecognised). A crash between the write and the filing loses nothing: the next run
reads those messages again and the database already knows them.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from newsletter.audience.bounces import SoftBouncePolicy
from newsletter.config import Settings
from newsletter.mailbox.classify import classify, classify_start
from newsletter.mailbox.limits import MAX_MESSAGE_BYTES, too_large
from newsletter.mailbox.outcomes import Report, apply_batch
from newsletter.mailbox.reports import Verdict, unrecognised
from newsletter.sending.crashpoints import test_hook
from newsletter.tokens import Signer

BATCH = 500  # messages per database transaction
START = 16384  # bytes read first: a report's parts and the returned headers are near the top
_signer: Signer | None = None  # the workers' copy (inherited when they fork)


class Source(Protocol):
    label: str

    def where(self) -> str: ...
    def lock_path(self) -> Path: ...  # `mailbox.lock`: one run per folder
    def pending(self) -> Iterator[Any]: ...
    def name_of(self, item: Any) -> str: ...
    def done(self, item: Any) -> None: ...
    def set_aside(self, item: Any) -> None: ...
    def close(self) -> None: ...


class FetchingSource(Source, Protocol):
    def fetch(self, items: list[Any]) -> list[tuple[Any, bytes | str]]: ...


def _classify_files(paths: list[str]) -> list[tuple[str, Verdict | str]]:
    """In a worker: read and classify each file; a file that cannot be read is a reason."""
    assert _signer is not None
    out: list[tuple[str, Verdict | str]] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size > MAX_MESSAGE_BYTES:  # never read whole
                    out.append((path, unrecognised(too_large())))
                    continue
                data = handle.read(START)
                verdict = None
                if len(data) == START:
                    verdict = classify_start(data, _signer, truncated=True)
                if verdict is None:
                    data += handle.read()
        except FileNotFoundError:
            continue  # another run filed it meanwhile
        except OSError as exc:
            out.append((path, f"cannot read: {exc.strerror or exc}"))
            continue
        out.append((path, verdict or classify(data, _signer)))
    return out


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _file_batches(source: Source, workers: int) -> Iterator[list[tuple[Any, Verdict | str]]]:
    chunks = _chunks(source.pending(), BATCH)
    if workers <= 1 or sys.platform != "linux":
        yield from map(_classify_files, chunks)
        return
    # fork: the workers inherit the signer and never touch the database (os._exit at the end,
    # so no inherited connection is closed under the parent's feet).
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        window: deque[Any] = deque()
        for chunk in chunks:
            window.append(pool.apply_async(_classify_files, (chunk,)))
            if len(window) >= 2 * workers:  # bounded: a few batches in flight, never the box
                yield window.popleft().get()
        while window:
            yield window.popleft().get()


def _fetched_batches(source: FetchingSource) -> Iterator[list[tuple[Any, Verdict | str]]]:
    assert _signer is not None
    for chunk in _chunks(list(source.pending()), BATCH):
        yield [
            (item, data if isinstance(data, str) else classify(data, _signer))
            for item, data in source.fetch(chunk)
        ]


def process(
    engine: Engine, settings: Settings, signer: Signer, source: Source, *, workers: int = 1
) -> Report:
    """Handle every pending message of `source`; the report says what was done."""
    global _signer
    _signer = signer
    policy = SoftBouncePolicy(settings.soft_bounce_limit, settings.soft_bounce_days)
    report = Report()
    batches = (
        _fetched_batches(source)  # type: ignore[arg-type]
        if hasattr(source, "fetch")
        else _file_batches(source, workers)
    )
    for number, batch in enumerate(batches, 1):
        readable = [(item, v) for item, v in batch if isinstance(v, Verdict)]
        for item, why in batch:
            if isinstance(why, str):
                report.problems.append({"message": source.name_of(item), "reason": why})
        report.read += len(readable)
        final = apply_batch(engine, policy, source.label, [v for _, v in readable], report)
        test_hook("mailbox-written", number)  # written, not yet filed away
        for (item, _), verdict in zip(readable, final, strict=True):
            if verdict.kind == "unrecognised":
                report.unrecognised.append(
                    {"message": source.name_of(item), "reason": verdict.reason}
                )
                source.set_aside(item)
            else:
                source.done(item)
    return report
