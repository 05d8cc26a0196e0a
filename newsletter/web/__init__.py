"""The subscriber-facing web app: unsubscribe, RFC 8058 one-click included (`unsubscribe`),
preferences (`preferences`), the page a proof's links open (`proof`), the subscribe form and
double opt-in (`subscribe`, and the mail it sends: `confirmation`), the click redirect and open
pixel (`tracking`), the SendGrid event webhook (`webhook`, its signature: `webhook_signature`),
the archive (`archive`; as static files: `static_archive`), a reader's web copy of a sequence
step (`step_copy`), the front page with the public lists' subscribe forms (`front`) and a health
check.

`app.py` builds the app (settings, engine, signer, blueprints) and keeps what every view needs
in `context.py`; views turn tokens into subscribers through `lookup.py`, and share the security
headers and the one neutral 404 (`security.py`), a per-client rate limit (`ratelimit`) and
the language each page speaks (`language`: the token's send's or list's, else Accept-Language).
Blueprints import `context.py`, never the package itself (`newsletter.web`).

Production: ``gunicorn 'newsletter.web:create_app()'`` behind a TLS proxy. Development:
``newsletter serve`` (`dev_server.py`: Werkzeug's server, with the security headers on the
errors it writes itself).

May import: `sequences`, `sending`, `tracking`, `audience`, `db` and the kernel. Only `app.py`
opens the engine (`db.engine`, `db.connection`): views reach the database through functions of
the packages below, never through connections, tables, transactions or SQL of their own, and
from SQLAlchemy they import only `Engine` (for typing) and `sqlalchemy.exc`.
"""

from newsletter.web.app import create_app

__all__ = ["create_app"]
