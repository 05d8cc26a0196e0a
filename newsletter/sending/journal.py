"""Outcomes delivered but not recorded: when the database stays away past
`db_outage_timeout`, a worker writes what the servers confirmed to a journal, one file per
host and process in `state_dir` (`journal-HOST-PID.jsonl`, one JSON line per recipient,
flushed and fsynced). The next `send`, `worker` or `send-due` on that host replays every
journal whose process is gone into the ledger, before anything else, then deletes it: a
delivered message is never sent again, and never stays `unknown` once its host runs the tool
again. Replay, like recording, moves only rows the journal's worker claimed: `claimed`, or
`unknown` (recovery may have marked them while it was away)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from newsletter.errors import DatabaseUnavailable
from newsletter.models import SendResult
from newsletter.sending import ledger
from newsletter.sending.delivery.base import Unit

HOST = socket.gethostname()
PREFIX = "journal-"


def path_for(folder: str, pid: int | None = None) -> Path:
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in HOST)
    return Path(folder).resolve() / f"{PREFIX}{host}-{os.getpid() if pid is None else pid}.jsonl"


class Journal:
    """This process's journal for one send's worker; nothing is written unless needed."""

    def __init__(self, folder: str, send_id: int, worker_id: str):
        self.path = path_for(folder)
        self.send_id, self.worker_id = send_id, worker_id
        self.gave_up: BaseException | None = None  # why the recorder stopped using the database
        self.kept = 0  # recipients written here

    def keep(self, items: Sequence[tuple[Unit, list[SendResult]]], why: BaseException) -> None:
        self.gave_up = self.gave_up or why
        rows = [r for _, results in items for r in results]
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            for r in rows:
                line = {"send": self.send_id, "worker": self.worker_id, "sid": r.subscriber_id}
                line.update(status=r.status, detail=r.detail, provider=r.provider_id)
                fh.write(json.dumps(line) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.kept += len(rows)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replay(engine: Engine, folder: str) -> int:
    """Record every journal of this host whose process is gone; returns the recipients
    recorded. A journal is deleted only once its outcomes are committed."""
    mine = path_for(folder, 0).name[: -len("0.jsonl")]
    done = 0
    for path in sorted(Path(folder).glob(f"{mine}*.jsonl")):
        pid = path.name[len(mine) : -len(".jsonl")]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        by_worker: dict[tuple[int, str], list[SendResult]] = {}
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(text)
                key = (int(row["send"]), str(row["worker"]))
                result = SendResult(
                    int(row["sid"]), str(row["status"]), str(row["detail"]), str(row["provider"])
                )
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash while writing it: nothing was lost
            by_worker.setdefault(key, []).append(result)
        try:
            with engine.begin() as conn:
                for (send_id, worker_id), results in by_worker.items():
                    ledger.record_for(conn, send_id, worker_id, results)
        except Exception as exc:
            raise DatabaseUnavailable(f"{path}: could not replay this journal: {exc}") from exc
        done += sum(len(r) for r in by_worker.values())
        path.unlink(missing_ok=True)  # another process of this host may have replayed it too
    return done
