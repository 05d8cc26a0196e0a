"""What every view needs (settings, engine, signer), kept on the Flask app by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.tokens import Signer


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    signer: Signer


def context() -> WebContext:
    return current_app.extensions["newsletter"]
