"""The subscriber-facing web app: unsubscribe (RFC 8058 one-click), preferences, double opt-in,
the SendGrid event webhook, the archive and a health check.

Production: ``gunicorn 'newsletter.web:create_app()'`` behind a TLS proxy. Development:
``newsletter serve`` (`dev_server.py`: Werkzeug's server, with the security headers on the
errors it writes itself).

Layer: the top, beside `cli`. Views reach the database only through functions of the layers
below (audience, sending, tracking, mailbox), never through tables. `app.py` builds the app;
blueprints import `context.py`, never this package's `__init__`.
"""

from newsletter.web.app import create_app

__all__ = ["create_app"]
