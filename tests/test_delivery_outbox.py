"""Outbox backend: one .eml per (send, subscriber) in a Maildir-style folder, idempotent."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.errors import BackendConfigError, ConfigError
from newsletter.models import SENT, Recipient
from newsletter.sending.delivery import make_backend
from tests.support.messages import parse, recipient, sample_template


def test_writes_one_parseable_file_per_recipient(workdir: Path) -> None:
    backend = make_backend("outbox", load_settings(cwd=workdir, env={}))
    people = [recipient(i) for i in range(1, 21)]
    results = backend.send(sample_template(), people)
    assert [r.status for r in results] == [SENT] * 20
    assert [r.subscriber_id for r in results] == list(range(1, 21))
    files = sorted((workdir / "outbox" / "new").iterdir())
    assert len(files) == 20
    assert list((workdir / "outbox" / "tmp").iterdir()) == []
    for path in files:
        m = parse(path.read_bytes())
        sid = m["To"].addresses[0].addr_spec.removeprefix("reader").removesuffix("@example.org")
        assert path.name == f"send-42.{sid}.eml"
        assert f"/unsubscribe/tok-{sid}.sig" in m["List-Unsubscribe"]


def test_resending_the_same_pair_overwrites(workdir: Path) -> None:
    backend = make_backend("outbox", load_settings(cwd=workdir, env={}))
    template = sample_template()
    backend.send(template, [recipient(1), recipient(2)])
    backend.send(template, [recipient(2), recipient(3)])
    names = sorted(p.name for p in (workdir / "outbox" / "new").iterdir())
    assert names == ["send-42.1.eml", "send-42.2.eml", "send-42.3.eml"]
    backend.send(sample_template(send_ref="send-43"), [recipient(1)])
    assert len(list((workdir / "outbox" / "new").iterdir())) == 4


def test_test_sends_without_subscriber_id_get_distinct_files(workdir: Path) -> None:
    backend = make_backend("outbox", load_settings(cwd=workdir, env={}))
    people = [Recipient(email="a@example.org"), Recipient(email="b@example.org")]
    results = backend.send(sample_template(send_ref="test"), people)
    assert len({r.provider_id for r in results}) == 2
    for path in (workdir / "outbox" / "new").iterdir():
        assert email.message_from_bytes(path.read_bytes(), policy=policy.default)["To"]


def test_configured_folder_and_unwritable_folder(workdir: Path) -> None:
    settings = load_settings(
        cwd=workdir, env={"NEWSLETTER_OUTBOX_DIR": str(workdir / "mail" / "out")}
    )
    make_backend("outbox", settings).send(sample_template(), [recipient(1)])
    assert (workdir / "mail" / "out" / "new" / "send-42.1.eml").is_file()
    (workdir / "blocked").write_text("a file, not a folder")
    with pytest.raises(BackendConfigError, match="blocked"):
        make_backend(
            "outbox", load_settings(cwd=workdir, env={"NEWSLETTER_OUTBOX_DIR": "blocked/out"})
        )


def test_unknown_backend_name(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown backend 'carrier-pigeon'"):
        make_backend("carrier-pigeon", load_settings(cwd=tmp_path, env={}))
