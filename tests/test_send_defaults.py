"""Defaults that fit the backend: batches of 1000, worker processes by audience size, and a
`--rate` that caps the whole send whatever the number of processes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from newsletter.config import Settings, load_settings
from newsletter.errors import ConfigError
from newsletter.sending import send as send_module
from newsletter.sending.plan import SendOptions, prepare
from tests.support.sending import delivered, env_for, populate, run_cli, weekly_send


def test_defaults_fit_the_backends(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={})
    assert settings.batch_size == 1000  # SendGrid's maximum per request
    assert settings.sendgrid_concurrency > 1 and settings.smtp_connections > 4
    assert settings.send_workers_from > 1 and settings.send_workers_max > 1


@pytest.mark.parametrize(
    "key,value",
    [
        ("SENDGRID_CONCURRENCY", "0"),
        ("SENDGRID_CONCURRENCY", "65"),
        ("SENDGRID_KEEPALIVE", "0"),
        ("SEND_WORKERS_MAX", "0"),
        ("SEND_WORKERS_FROM", "0"),
    ],
)
def test_bad_sending_settings_are_one_clear_line(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key.lower()) as info:
        load_settings(cwd=tmp_path, env={f"NEWSLETTER_{key}": value})
    assert f"NEWSLETTER_{key}" in str(info.value) and "\n" not in str(info.value)


def _plan(engine, settings: Settings, issue_path: Path, **options):  # noqa: ANN001, ANN202
    return prepare(engine, settings, issue_path, SendOptions(lists=("weekly",), **options))


def test_worker_processes_follow_the_audience(engine, send_settings, issue_path) -> None:
    populate(engine, "weekly", 30)
    cores = os.cpu_count() or 1
    small = replace(send_settings, send_workers_from=31, send_workers_max=8)
    large = replace(send_settings, send_workers_from=30, send_workers_max=8)
    capped = replace(large, send_workers_max=1)
    assert send_module.worker_count(small, _plan(engine, small, issue_path, workers=None)) == 1
    assert send_module.worker_count(large, _plan(engine, large, issue_path, workers=None)) == min(
        cores, 8
    )
    assert send_module.worker_count(capped, _plan(engine, capped, issue_path, workers=None)) == 1
    limited = _plan(engine, large, issue_path, workers=None, limit=5)
    assert send_module.worker_count(large, limited) == 1  # --limit: one process
    assert send_module.worker_count(small, _plan(engine, small, issue_path, workers=3)) == 3


def test_rate_is_shared_by_the_sends_processes(
    engine, send_settings, issue_path, monkeypatch
) -> None:
    """--rate 40 with 2 processes: the helper is started with --rate 20 and the main process
    delivers at 20, so together they never exceed 40."""
    populate(engine, "weekly", 30)
    started: list[list[str]] = []
    rates: list[float | None] = []

    class Helper:
        def __init__(self, command: list[str], **_: object):
            started.append(command)

        def wait(self) -> int:
            return 0

    real_deliver = send_module.deliver

    def deliver(*args: object, **kwargs: object):  # noqa: ANN202
        rates.append(kwargs["rate"])  # type: ignore[arg-type]
        return real_deliver(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(send_module.subprocess, "Popen", Helper)
    monkeypatch.setattr(send_module, "deliver", deliver)
    plan = _plan(engine, send_settings, issue_path, workers=2, rate=40.0)
    progress = send_module.execute(engine, send_settings, plan, helper_command=["helper"])
    assert progress is not None and progress.counts["sent"] == 30
    assert rates == [20.0]
    assert len(started) == 1 and started[0][-2:] == ["--rate", "20.0"]


def test_workers_with_rate_is_no_longer_refused(
    engine, database_url, issue_path, workdir, sink_process
) -> None:
    port, record = sink_process
    populate(engine, "weekly", 40)
    env = env_for(database_url, port)
    done = run_cli(
        *weekly_send(issue_path, "--workers", "2", "--rate", "200"), env=env, cwd=workdir
    )
    assert done.returncode == 0, done.stderr
    seen = delivered(record)
    assert len(seen) == 40 and max(seen.values()) == 1


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
def test_worker_processes_share_the_smtp_connections_so_the_relay_cap_holds(
    engine, database_url, issue_path, workdir, pipelining
) -> None:
    """Relays cap connections per client (Postfix: 50), so `smtp_connections` is what the whole
    send opens: with 2 processes each opens half. The sink counts the connections it saw."""
    from tests.support.smtp_sink import RecordingHandler, SinkServer

    server = SinkServer(RecordingHandler(pipelining=pipelining)).start()
    try:
        populate(engine, "weekly", 300)
        env = env_for(database_url, server.port, NEWSLETTER_SMTP_CONNECTIONS="6")
        done = run_cli(*weekly_send(issue_path, "--workers", "2"), env=env, cwd=workdir)
        assert done.returncode == 0, done.stderr
        rcpts = [r for m in server.messages for r in m.rcpt_tos]
        assert len(rcpts) == len(set(rcpts)) == 300
        assert len({m.peer for m in server.messages}) <= 6
    finally:
        server.stop()
