"""Issue 21, point 3: the disk fills up, under the SQLite file or under the outbox folder, for
a send, an import and a mailbox run, on a real 4 MB tmpfs the test mounts (`small_disk`).

Each stops with one line (no traceback) that names the file and says the disk is full; the
database then passes `PRAGMA integrity_check` and holds nothing half-done (an import chunk is
there whole or not at all; a mailbox batch is written whole or not at all and its messages
stay to be read again). Once space is freed, the same command (a send: `--resume`) finishes,
nobody gets a message twice and nobody is skipped.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from newsletter.db.engine import make_engine
from newsletter.errors import BackendConfigError, DiskFull
from tests.support.mailroom import dsn, make_mailroom
from tests.support.sending import SECRET, populate, run_cli, spawn_cli, weekly_send
from tests.support.small_disk import SmallDisk
from tests.support.waiting import wait_until

AUDIENCE = 1000


def _sqlite(disk: SmallDisk) -> tuple[Path, str]:
    path = disk.path / "newsletter.db"
    return path, f"sqlite:///{path}"


def _one_error_line(stderr: str, path: Path, what: str) -> None:
    """The command's error is one line naming `path`, saying the disk holding `what` is full."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"error: {path}: the disk holding {what} is full"), stderr


def _intact(path: Path) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _ledger(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))


def _mail_files(outbox: Path) -> dict[str, int]:
    """The outbox's messages: file name (one per send and subscriber) -> inode. A message sent
    again replaces its file (a new inode), so an unchanged inode means: not sent twice."""
    return {p.name: p.stat().st_ino for p in (outbox / "new").glob("*.eml")}


def _send_env(url: str, outbox: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_OUTBOX_DIR": str(outbox),
        "NEWSLETTER_BATCH_SIZE": "50",
        **extra,
    }


def _resume_sends_the_rest_once(issue_path: Path, env: dict, workdir: Path, db: Path, outbox):
    before = _mail_files(outbox)
    done = run_cli(*weekly_send(issue_path, "--resume"), env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    after = _mail_files(outbox)
    assert len(after) == AUDIENCE  # nobody skipped
    assert {name: after[name] for name in before} == before  # nobody sent twice
    assert _ledger(db) == {"sent": AUDIENCE}  # and nobody left in doubt


def test_send_stops_when_the_disk_under_the_database_fills_and_resumes_once_freed(
    small_disk: SmallDisk, issue_path: Path, workdir: Path
):
    db, url = _sqlite(small_disk)
    populate(make_engine(url), "weekly", AUDIENCE)
    outbox = workdir / "outbox"
    env = _send_env(url, outbox, NEWSLETTER_TEST_BATCH_DELAY="1")  # the disk fills between batches
    proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    wait_until(lambda: _ledger(db).get("sent", 0) >= 100, what="two batches recorded")
    small_disk.fill()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    _one_error_line(stderr, db, "the SQLite database")
    _intact(db)
    assert 0 < _ledger(db).get("sent", 0) < AUDIENCE
    small_disk.free()
    del env["NEWSLETTER_TEST_BATCH_DELAY"]
    _resume_sends_the_rest_once(issue_path, env, workdir, db, outbox)


def test_send_stops_when_the_outbox_disk_fills_and_resumes_once_freed(
    small_disk: SmallDisk, issue_path: Path, workdir: Path
):
    db = workdir / "newsletter.db"
    url = f"sqlite:///{db}"
    populate(make_engine(url), "weekly", AUDIENCE)
    outbox = small_disk.path / "outbox"
    env = _send_env(url, outbox)
    stopped = run_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    assert stopped.returncode == 1
    _one_error_line(stopped.stderr, outbox, "the outbox")
    _intact(db)
    ledger = _ledger(db)
    assert set(ledger) == {"sent", "queued"}  # nothing claimed, nothing in doubt
    assert ledger["sent"] == len(_mail_files(outbox)) and not any((outbox / "tmp").iterdir())
    small_disk.free(size="64m")  # the operator makes room
    _resume_sends_the_rest_once(issue_path, env, workdir, db, outbox)


def test_import_stops_when_the_disk_fills_and_keeps_whole_chunks_only(
    small_disk: SmallDisk, workdir: Path
):
    db, url = _sqlite(small_disk)
    make_engine(url).dispose()
    env = {"DATABASE_URL": url}
    assert (
        run_cli("lists", "create", "weekly", "--name", "Weekly", env=env, cwd=workdir).returncode
        == 0
    )
    rows = 30_000
    csv = workdir / "people.csv"
    csv.write_text("email,name\n" + "".join(f"p{i}@example.org,P {i}\n" for i in range(rows)))
    small_disk.fill(leave=1_500_000)  # room for some chunks of 10,000, not for all three
    stopped = run_cli("subscribers", "import", str(csv), "--list", "weekly", env=env, cwd=workdir)
    assert stopped.returncode == 1
    _one_error_line(stopped.stderr, db, "the SQLite database")
    _intact(db)
    with sqlite3.connect(db) as conn:
        people = conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]
        members = conn.execute("SELECT count(*) FROM memberships").fetchone()[0]
    assert people == members and people % 10_000 == 0 and people < rows  # whole chunks only
    small_disk.free(size="64m")
    done = run_cli("subscribers", "import", str(csv), "--list", "weekly", env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "SELECT count(*), count(DISTINCT email_key) FROM subscribers"
        ).fetchone() == (rows, rows)
        assert conn.execute("SELECT count(*) FROM memberships").fetchone()[0] == rows


def test_mailbox_run_stops_when_the_disk_fills_and_reads_the_batch_again_once_freed(
    small_disk: SmallDisk, tmp_path: Path
):
    db, url = _sqlite(small_disk)
    small_disk.free(size="16m")  # room to set up (the WAL of 300 small writes)
    room = make_mailroom(url, tmp_path, subscribers=300)
    send = room.add_send()
    for sid in room.subscribers:
        room.drop(f"{sid}.eml", dsn(room.tag(send, sid)))
    room.engine.dispose()
    env = {"DATABASE_URL": url, "NEWSLETTER_SECRET_KEY": room.settings.secret_key}
    small_disk.fill(leave=64 * 1024)
    stopped = run_cli("mailbox", str(room.box), env=env, cwd=tmp_path)
    assert stopped.returncode == 1
    _one_error_line(stopped.stderr, db, "the SQLite database")
    _intact(db)
    assert room.bounce_rows() == [] and len(room.files("new")) == 300  # nothing half-done
    small_disk.free()
    done = run_cli("mailbox", str(room.box), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "300 bounced" in done.stdout and len(room.bounce_rows()) == 300
    assert room.files("new") == [] and len(room.files("cur")) == 300


# --- The same failures without mounting anything (these run everywhere): SQLite's full state
# through `PRAGMA max_page_count`, the outbox's through a writer that raises ENOSPC.


def _capped(url: str, room: int = 0) -> Any:
    """An engine on `url` whose every connection may not grow the file past its size now; with
    `room`, that many bytes of free pages inside the file first (a dropped table's)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        if room:
            conn.exec_driver_sql("CREATE TABLE ballast (x)")
            conn.exec_driver_sql(f"INSERT INTO ballast SELECT zeroblob({room})")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS ballast")
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    engine.dispose()
    event.listen(
        engine,
        "connect",
        lambda raw, _record: raw.execute(f"PRAGMA max_page_count = {pages}"),
    )
    return engine


def test_a_full_database_is_disk_full_naming_the_file_on_every_write_path(tmp_path: Path):
    from sqlalchemy import text

    from newsletter.db.driver_sql import Sql

    db = tmp_path / "newsletter.db"
    with make_engine(f"sqlite:///{db}").begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (x)")
    engine = _capped(f"sqlite:///{db}")
    grow = Sql("INSERT INTO scratch (x) VALUES (:x)")
    with pytest.raises(DiskFull) as core, engine.begin() as conn:  # through SQLAlchemy
        conn.execute(text(grow.text), {"x": "x" * 200_000})
    with pytest.raises(DiskFull) as driver, engine.begin() as conn:  # the hot paths' own SQL
        grow.run(conn, x="x" * 200_000)
    for raised in (core.value, driver.value):
        assert str(raised).startswith(f"{db}: the disk holding the SQLite database is full")
    _intact(db)
    engine.dispose()


def test_an_import_into_a_full_database_keeps_whole_chunks_only(tmp_path: Path):
    from newsletter.audience.csv_import import import_csv
    from newsletter.audience.lists import create_list

    db = tmp_path / "newsletter.db"
    create_list(make_engine(f"sqlite:///{db}"), "weekly", "Weekly")
    csv = tmp_path / "people.csv"
    csv.write_text("email,name\n" + "".join(f"p{i}@example.org,P {i}\n" for i in range(5000)))
    engine = _capped(f"sqlite:///{db}", room=400_000)  # room for a few chunks, not ten
    with pytest.raises(DiskFull):
        import_csv(engine, csv, "weekly", chunk_size=500)
    _intact(db)
    with sqlite3.connect(db) as conn:
        people = conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]
        members = conn.execute("SELECT count(*) FROM memberships").fetchone()[0]
    assert people == members and people % 500 == 0 and 0 < people < 5000
    engine.dispose()


def test_an_outbox_write_refused_for_space_stops_the_batch_with_the_disk_full_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
):
    from newsletter.config import load_settings
    from newsletter.sending.delivery import make_backend
    from tests.support.messages import recipient, sample_template

    backend = make_backend("outbox", load_settings(cwd=workdir, env={}))
    written = []
    real = Path.write_bytes

    def write_bytes(path: Path, data: bytes) -> int:
        if len(written) == 3:
            real(path, data[: len(data) // 2])  # part of it got out before the disk was full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        return real(path, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(BackendConfigError) as stopped:
        backend.send(sample_template(), [recipient(i) for i in range(1, 6)])
    outbox = workdir / "outbox"
    assert str(stopped.value).startswith(f"{backend.root}: the disk holding the outbox is full")
    assert [r.subscriber_id for r in stopped.value.results] == [1, 2, 3]  # the ones written
    assert sorted(p.name for p in (outbox / "new").iterdir()) == [
        "send-42.1.eml", "send-42.2.eml", "send-42.3.eml"
    ]  # fmt: skip
    assert list((outbox / "tmp").iterdir()) == []  # no partial file left
