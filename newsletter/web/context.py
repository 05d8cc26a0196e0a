"""What every view needs (settings, engine, signer), kept on the Flask app by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.tokens import Signer


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    signer: Signer
    # The lists this app has read, by slug: what the subscribe form's answer names while the
    # database is away (`web.subscribe`).
    lists_seen: dict[str, dict] = field(default_factory=dict)
    # Each send's language, by id, as read once (`web.language`): it never changes.
    send_languages: dict[int, str] = field(default_factory=dict)


def context() -> WebContext:
    return current_app.extensions["newsletter"]
