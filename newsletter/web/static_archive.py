"""`newsletter archive --out DIR`: the web archive as static files for any static host.

Writes ``index.html``, ``feed.atom`` and ``<issue-id>/index.html``: publish DIR so that it is
served at ``<site_url>/archive/`` and every link (``/archive/<issue-id>``) keeps working. The
pages come from the same code and templates as the live app (rendered through its test client).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import Engine

from newsletter import tokens
from newsletter.config import Settings
from newsletter.errors import ConfigError


def write_archive(settings: Settings, engine: Engine, out: str | os.PathLike[str]) -> list[Path]:
    """Write the archive into `out`; returns the files written."""
    from newsletter.sending.archive import entries
    from newsletter.web.app import create_app

    root = Path(out)
    throwaway = tokens.Signer([secrets.token_urlsafe(32)])  # the archive signs nothing: no key
    app = create_app(settings, engine, signer=throwaway)
    client = app.test_client()
    targets = [("/archive", root / "index.html"), ("/archive/feed.atom", root / "feed.atom")]
    targets += [
        (f"/archive/{e.issue_id}", root / e.issue_id / "index.html")
        for e in entries(engine, settings)
    ]
    written: list[Path] = []
    try:
        for url, path in targets:
            response = client.get(url)
            if response.status_code != 200:
                continue  # an issue listed but unreadable: skipped, the index still links it
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(response.get_data())
            os.replace(tmp, path)
            written.append(path)
    except OSError as exc:
        raise ConfigError(
            f"{root}: cannot write the archive: {exc.strerror} (check --out)"
        ) from None
    return written
