"""A sequence step on the web: never in the archive; its "view in browser" link opens that
reader's signed web copy, and an altered link finds the neutral 404."""

from __future__ import annotations

import re
from datetime import timedelta

from newsletter.audience.subscribers import add_subscriber
from newsletter.db.clock import utcnow
from newsletter.sequences.files import load_sequences
from newsletter.sequences.run import send_sequences
from tests.support.sequences import write_sequence
from tests.support.web_server import WebEnv, outbox_mails


def test_a_step_opens_as_its_readers_web_copy_and_is_not_in_the_archive(web: WebEnv) -> None:
    write_sequence(web.workdir, lists='["news"]')
    found = load_sequences(web.workdir / "sequences")
    lines: list[str] = []

    def run() -> bool:
        return send_sequences(
            web.engine,
            web.settings,
            found,
            now=utcnow(),
            max_late=timedelta(hours=24),
            log=lambda line, _problem: lines.append(line),
        )

    assert run()
    add_subscriber(web.engine, "ann@example.com", "news", name="Ann")
    assert run(), lines
    (mail,) = outbox_mails(web, "ann@example.com")
    text = mail.get_body(preferencelist=("plain",)).get_content()
    (link,) = set(re.findall(r"http://127\.0\.0\.1:8000(/steps/[0-9a-f]{32})", text))
    page = web.client.get(link)
    assert page.status_code == 200 and "this is welcome aboard" in page.get_data(as_text=True)
    neutral = web.client.get("/nothing-here").get_data()
    altered = link[:-1] + ("0" if link[-1] != "0" else "1")
    assert web.client.get(altered).get_data() == neutral
    assert "Welcome aboard" not in web.client.get("/archive").get_data(as_text=True)
    assert web.client.get("/archive/welcome/01-welcome").get_data() == neutral
