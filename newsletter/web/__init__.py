"""The subscriber-facing web app: unsubscribe (RFC 8058 one-click), preferences, double opt-in,
the SendGrid event webhook, the archive and a health check.

Production: ``gunicorn 'newsletter.web:create_app()'`` behind a TLS proxy. Development:
``newsletter serve``. Pages come from ``templates/pages/*.html.j2``; a project overrides one by
putting a file of the same name in its own ``<templates_dir>/pages/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.tokens import Signer

BUILTIN_PAGES = Path(__file__).resolve().parent.parent / "default_templates" / "pages"
MAX_BODY_BYTES = 5 * 1024 * 1024  # room for large webhook batches; forms are far smaller


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    signer: Signer


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Build the app. Without arguments, settings and database come from the environment."""
    from newsletter import tokens
    from newsletter.web import archive, preferences, security, subscribe, unsubscribe, webhook

    if settings is None:
        from newsletter.config import load_settings

        settings = load_settings()
    if engine is None:
        from newsletter.db import make_engine

        engine = make_engine(settings.effective_database_url)
    # Same rule as `send`: the outbox (development) may use the generated key, so links in
    # outbox mail verify here; smtp and sendgrid need NEWSLETTER_SECRET_KEY.
    signer = tokens.signer_for(settings, allow_generated=settings.backend == "outbox")

    app = Flask(__name__, static_folder=None, template_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.jinja_env.autoescape = True  # our templates end in .j2, which Flask would not escape
    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(str(Path(settings.templates_dir).resolve() / "pages")),
            FileSystemLoader(str(BUILTIN_PAGES)),
        ]
    )
    app.jinja_env.globals.update(lang=settings.language or "en", site_name=settings.sender_name)
    app.extensions["newsletter"] = WebContext(settings, engine, signer)

    if settings.web_trusted_proxies > 0:  # behind a TLS proxy: the client is in X-Forwarded-*
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.web_trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    security.install(app)
    for module in (unsubscribe, preferences, subscribe, webhook, archive):
        app.register_blueprint(module.bp)
    app.add_url_rule("/healthz", "healthz", _healthz)
    return app


def context() -> WebContext:
    return current_app.extensions["newsletter"]


def _healthz():  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from newsletter.db import reading

    try:
        with reading(context().engine) as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return {"status": "database unavailable"}, 503
    return {"status": "ok"}
