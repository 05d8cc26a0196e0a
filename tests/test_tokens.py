"""Signed tokens: bound to subscriber, list and purpose; forgeries fail; keys can rotate."""

from __future__ import annotations

import base64
import os
import stat
import time
from pathlib import Path

import pytest

from newsletter import tokens
from newsletter.config import load_settings
from newsletter.errors import ConfigError, TokenError

KEY = "k" * 43


def test_round_trip_and_binding() -> None:
    signer = tokens.Signer([KEY])
    token = signer.make("unsubscribe", 12, 3)
    assert signer.read(token, "unsubscribe") == (12, 3)
    assert len(token) < 80 and all(c.isalnum() or c in "-_." for c in token)
    assert signer.make("unsubscribe", 12, 4) != token
    assert signer.make("unsubscribe", 13, 3) != token


@pytest.mark.parametrize("purpose", ["preferences", "confirm"])
def test_token_for_another_purpose_fails(purpose: str) -> None:
    signer = tokens.Signer([KEY])
    with pytest.raises(TokenError):
        signer.read(signer.make("unsubscribe", 1, 1), purpose)


def test_altered_truncated_and_forged_tokens_fail() -> None:
    signer = tokens.Signer([KEY])
    token = signer.make("unsubscribe", 12, 3)
    payload, stamp, sig = token.split(".")
    other = signer.make("unsubscribe", 99, 3).split(".")[0]
    forged_payload = base64.urlsafe_b64encode(b"[99,3]").decode().rstrip("=")
    bad = [
        token[:-1],
        # One signature character changed (not the last: its low bits are base64 padding, so
        # some changes there decode to the same bytes and are no alteration at all).
        f"{payload}.{stamp}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}",
        token[: len(token) // 2],
        f"{other}.{stamp}.{sig}",  # another subscriber's payload with this signature
        f"{forged_payload}.{stamp}.{sig}",
        "",
        "not-a-token",
        tokens.Signer(["another-key"]).make("unsubscribe", 12, 3),
    ]
    for candidate in bad:
        with pytest.raises(TokenError):
            signer.read(candidate, "unsubscribe")


def test_expired_token_fails_only_with_max_age(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = tokens.Signer([KEY])
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3 * 86400)
    token = signer.make("confirm", 5, 6)
    monkeypatch.setattr(time, "time", real)
    assert signer.read(token, "confirm") == (5, 6)
    with pytest.raises(TokenError, match="expired"):
        signer.read(token, "confirm", max_age=86400)


def test_rotation_accepts_old_keys_and_signs_with_the_new_one() -> None:
    old = tokens.Signer(["old-key"])
    token = old.make("unsubscribe", 7, 2)
    rotated = tokens.Signer(["new-key", "old-key"])
    assert rotated.read(token, "unsubscribe") == (7, 2)
    fresh = rotated.make("unsubscribe", 7, 2)
    assert tokens.Signer(["new-key"]).read(fresh, "unsubscribe") == (7, 2)
    with pytest.raises(TokenError):
        old.read(fresh, "unsubscribe")


def test_signer_for_uses_env_keys_and_old_keys(tmp_path) -> None:
    old_token = tokens.Signer(["retired"]).make("preferences", 1, 2)
    settings = load_settings(
        cwd=tmp_path, env={"NEWSLETTER_SECRET_KEY": KEY, "NEWSLETTER_OLD_SECRET_KEYS": "x, retired"}
    )
    signer = tokens.signer_for(settings, allow_generated=False)
    assert signer.generated_key_path is None
    assert signer.read(old_token, "preferences") == (1, 2)


def test_smtp_and_sendgrid_refuse_without_a_key(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY is not set"):
        tokens.signer_for(load_settings(cwd=workdir, env={}), allow_generated=False)
    assert not (workdir / tokens.SECRET_FILE).exists()


def test_generated_key_beside_sqlite_database_is_private_and_stable(workdir: Path) -> None:
    db = workdir / "data" / "news.db"
    db.parent.mkdir()
    settings = load_settings(cwd=workdir, env={"DATABASE_URL": f"sqlite:///{db}"})
    first = tokens.signer_for(settings, allow_generated=True)
    assert first.generated_key_path == db.parent / tokens.SECRET_FILE
    assert stat.S_IMODE(os.stat(first.generated_key_path).st_mode) == 0o600
    token = first.make("unsubscribe", 3, 4)
    again = tokens.signer_for(settings, allow_generated=True)
    assert again.read(token, "unsubscribe") == (3, 4)


def test_generated_key_for_postgresql_lives_in_working_directory(workdir: Path) -> None:
    settings = load_settings(cwd=workdir, env={"DATABASE_URL": "postgresql://u@127.0.0.1/x"})
    signer = tokens.signer_for(settings, allow_generated=True)
    assert signer.generated_key_path == workdir / tokens.SECRET_FILE


def test_urls(tmp_path) -> None:
    settings = load_settings(
        cwd=tmp_path,
        env={
            "NEWSLETTER_SITE_URL": "https://news.example.com/",
            "NEWSLETTER_SENDER_ADDRESS": "hi@example.com",
        },
    )
    assert tokens.unsubscribe_url(settings, "T") == "https://news.example.com/unsubscribe/T"
    assert tokens.preferences_url(settings, "T") == "https://news.example.com/preferences/T"
    assert tokens.confirm_url(settings, "T") == "https://news.example.com/confirm/T"
    assert tokens.view_url(settings, "2019-03-01") == "https://news.example.com/archive/2019-03-01"
    assert tokens.unsubscribe_mailto(settings, "T") == (
        "mailto:unsubscribe@example.com?subject=unsubscribe%20T"
    )


ID = "message-id"


def test_recipient_tags_are_opaque_signed_and_survive_key_rotation() -> None:
    signer = tokens.Signer([KEY])
    tag = signer.recipient_tag(42, 1234, purpose=ID)
    assert len(tag) == tokens.TAG_LENGTH and tokens.TAG_PATTERN.fullmatch(tag)
    assert "4d2" not in tag and "1234" not in tag  # the numbering is not readable (1234 = 0x4d2)
    assert signer.read_recipient_tag(tag, purpose=ID) == (42, 1234)
    assert signer.read_recipient_tag(tag.upper(), purpose=ID) == (42, 1234)  # MTAs may fold case
    assert tokens.Signer(["new-key", KEY]).read_recipient_tag(tag, purpose=ID) == (42, 1234)
    assert signer.recipient_tag(42, 1235, purpose=ID) != tag
    assert signer.recipient_tag(43, 1234, purpose=ID) != tag


@pytest.mark.parametrize("mangle", ["flip", "other-key", "short", "not-hex", "swap"])
def test_forged_or_altered_recipient_tags_are_refused(mangle: str) -> None:
    signer = tokens.Signer([KEY])
    tag = signer.recipient_tag(42, 1234, purpose=ID)
    bad = {
        "flip": tag[:5] + ("0" if tag[5] != "0" else "1") + tag[6:],
        "other-key": tokens.Signer(["someone-else"]).recipient_tag(42, 1234, purpose=ID),
        "short": tag[:-2],
        "not-hex": "z" * tokens.TAG_LENGTH,
        "swap": tag[:16] + signer.recipient_tag(1, 1, purpose=ID)[16:],  # halves of two tags
    }[mangle]
    with pytest.raises(TokenError):
        signer.read_recipient_tag(bad, purpose=ID)
