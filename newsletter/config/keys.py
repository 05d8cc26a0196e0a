"""Which secret keys sign and which verify, as loaded from the environment and the outbox's
generated key file.

`NEWSLETTER_SECRET_KEY` signs; `NEWSLETTER_OLD_SECRET_KEYS` (comma-separated) still verify
after a rotation. Without a key, the outbox generates one into `.newsletter-secret` beside the
SQLite file (else the working directory). When a key is set later, links already mailed were
signed with the generated one: that key stays accepted as an old key, and every command that
acts says so, until `newsletter secret retire` deletes the file.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.config.settings import Settings

SECRET_FILE = ".newsletter-secret"
KEEP_OLD_DAYS = 60  # unsubscribe links must work 30 days after a mail (CAN-SPAM): twice that


def secret_file_location(settings: Settings) -> Path:
    """Where the outbox's generated key lives for these settings."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:":
            return Path(database).resolve().parent / SECRET_FILE
    return Path.cwd() / SECRET_FILE


def old_keys(settings: Settings) -> list[str]:
    """The keys that still verify: `NEWSLETTER_OLD_SECRET_KEYS`, then the generated key when a
    different `NEWSLETTER_SECRET_KEY` took its place (`kept_generated_key`)."""
    old = [k.strip() for k in settings.old_secret_keys.split(",") if k.strip()]
    kept = kept_generated_key(settings)
    if kept is not None and kept[1] not in old:
        old.append(kept[1])
    return old


def kept_generated_key(settings: Settings) -> tuple[Path, str] | None:
    """(file, key) of a generated key that `NEWSLETTER_SECRET_KEY` replaced and that is kept
    as an old key; None when there is none (or no key is set: the file's key then signs)."""
    if not settings.secret_key:
        return None
    path = secret_file_location(settings)
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeError):
        return None
    if not key or key == settings.secret_key:
        return None
    return path, key


def kept_key_warning(settings: Settings) -> str:
    """The warning a command that acts prints while a replaced generated key is kept ("")."""
    kept = kept_generated_key(settings)
    if kept is None:
        return ""
    return (
        f"{kept[0]} holds the key the outbox generated, and NEWSLETTER_SECRET_KEY differs: "
        "links mailed with the generated key still work (it is accepted as an old key); "
        f"after {KEEP_OLD_DAYS} days run `newsletter secret retire` to stop accepting it"
    )
