"""Personal touches (issue 23, point 4): `{{ reader("first_name", "there") }}` in templates and
`{{ first_name | default("there") }}` in issue Markdown are one placeholder, filled per
recipient in the single substitution pass, escaped per context, capped in length; a batch
loads attributes only when the send reads one; the strings "there", the confirmation subject
and "[TEST]" live in templates."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import text, update

from newsletter.authoring import readers
from newsletter.authoring.issue_file import parse_issue
from newsletter.authoring.markdown import to_html_and_text
from newsletter.authoring.placeholders import personalise
from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from newsletter.db import migrate, tables
from newsletter.db.clock import utcnow
from newsletter.db.engine import make_engine
from newsletter.errors import RenderError
from newsletter.models import Recipient, RenderedIssue
from newsletter.sending import batches
from newsletter.sending.proof import send_proof
from tests.support.web_server import ISSUE

FIRST = readers.reader("first_name", "there")
GREETING = 'Dear {{ first_name | default("there") }}, welcome.\n\n'


def _with_intro(intro: str, subject: str = "The test issue subject") -> str:
    head, body = ISSUE.split("---\n", 2)[1:]
    quoted = f"'{subject}'" if "{{" in subject else subject  # YAML: {{ starts a mapping
    head = head.replace("subject: The test issue subject", f"subject: {quoted}")
    return "---\n" + head + "---\n" + intro + body


def _mails(web, wanted) -> dict[str, Any]:  # noqa: ANN001
    """{recipient: message} of the outbox's messages whose subject is `wanted`."""
    out = {}
    for path in (Path(web.settings.outbox_dir) / "new").glob("*.eml"):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if wanted(str(msg["Subject"])):
            out[msg["To"].addresses[0].addr_spec] = msg
    return out


def _set_attributes(engine, email: str, attributes: dict) -> None:  # noqa: ANN001
    s = tables.subscribers
    with engine.begin() as conn:
        conn.execute(update(s).where(s.c.email == email).values(attributes=attributes))


def test_markdown_and_the_template_function_make_the_same_placeholder() -> None:
    html, plain = to_html_and_text('Hi {{ first_name | default("there") }} and __bold__')
    assert FIRST in html and FIRST in plain
    assert "<strong>bold</strong>" in html  # the placeholder's underscores are not emphasis
    assert to_html_and_text("Hi {{first_name|default('there')}}")[0] == f"<p>Hi {FIRST}</p>"
    assert readers.to_placeholders("{{ first_name }}") == readers.reader("first_name")


def _rendered(html: str, plain: str, subject: str) -> RenderedIssue:
    return RenderedIssue("x", subject, "", html, plain, "")


def test_values_are_filled_per_recipient_escaped_per_context_and_capped() -> None:
    rendered = _rendered(f"<p>{FIRST}</p>", f"Hi {FIRST}", f"For {FIRST}")
    evil = Recipient(email="a@example.org", attributes={"first_name": '<b>"Zoë"</b>\r\nBcc: x'})
    out = personalise(rendered, evil)
    assert out.html == "<p>&lt;b&gt;&quot;Zoë&quot;&lt;/b&gt;\r\nBcc: x</p>"
    assert out.text == 'Hi <b>"Zoë"</b>\r\nBcc: x'
    assert out.subject == 'For <b>"Zoë"</b> Bcc: x'  # one line in a header
    long = personalise(
        rendered, Recipient(email="a@example.org", attributes={"first_name": "x" * 20_000})
    )
    assert long.text == "Hi " + "x" * readers.VALUE_MAX
    nobody = personalise(
        rendered, Recipient(email="a@example.org", attributes={"first_name": "  "})
    )
    assert nobody.text == "Hi there"


def test_one_pass_a_value_that_looks_like_a_placeholder_stays_literal() -> None:
    rendered = _rendered(f"{FIRST} / __NL_EMAIL__", f"{FIRST} / __NL_EMAIL__", "s")
    sneaky = Recipient(email="me@example.org", attributes={"first_name": "__NL_EMAIL__ " + FIRST})
    out = personalise(rendered, sneaky)
    assert out.text == f"__NL_EMAIL__ {FIRST} / me@example.org"


def test_a_bad_expression_is_an_error_naming_its_line(workdir) -> None:
    path = workdir / "issue.md"
    path.write_text(_with_intro("Hello {{ first name }}!\n\n"), encoding="utf-8")
    _, problems = parse_issue(path)
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1 and errors[0].line == 7  # the intro starts on line 7
    assert "is not a reader value" in errors[0].message
    path.write_text(_with_intro("Hi.\n\n", subject="{{ FirstName }} news"), encoding="utf-8")
    assert any("not a field name" in p.message for p in parse_issue(path)[1])
    path.write_text(ISSUE.replace("subject: The", "subject: {{ first_name }} The"), "utf-8")
    (problem,) = [p for p in parse_issue(path)[1] if p.severity == "error"]
    assert "in quotes" in problem.message and problem.line == 3


def test_a_bad_reader_call_in_a_template_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="lower-case letters"):
        readers.reader("First Name", "there")


@given(
    st.text(alphabet=st.sampled_from(list("{}|\"' abc_XYZ()default\n\ue000\ue0010")), max_size=80)
)
@example('{{ a | default("x") }} {{ b }}')
@example("{{ __NL_R_a__00__ }}")
def test_the_markdown_expression_parser_never_fails_and_marks_round_trip(source: str) -> None:
    marked, found = readers.mark(source)
    assert len(found) == marked.count("\ue000") - source.count("\ue000")
    if "{{" not in source:
        assert marked == source and found == []
    if "\ue000" not in source and "\ue001" not in source:
        assert readers.unmark(marked, found) == readers.to_placeholders(source)
    for placeholder in found:
        field, _ = readers.parts(placeholder)
        assert readers.FIELD_RE.match(field)
    problems: list[tuple[int, str]] = []
    readers.check_expressions(source, 1, lambda line, msg: problems.append((line, msg)))
    assert all("\n" not in msg for _, msg in problems)


def test_a_send_greets_each_reader_by_first_name_and_loads_attributes_only_then(
    web, monkeypatch
) -> None:
    calls: list[int] = []
    real = batches.attributes_of

    def counted(conn, ids, fields):  # noqa: ANN001, ANN202
        calls.append(len(list(ids)))
        return real(conn, ids, fields)

    monkeypatch.setattr(batches, "attributes_of", counted)
    for email in ("ann@example.org", "bob@example.org", "cy@example.org"):
        web.member(email)
    _set_attributes(web.engine, "ann@example.org", {"first_name": "Ann & <Co>", "city": "Oslo"})
    _set_attributes(web.engine, "bob@example.org", {"city": "Rome"})
    web.send_issue()  # no reader attribute in it: nothing loaded
    assert calls == []
    web.send_issue(
        _with_intro(GREETING, subject='{{ first_name | default("Hello") }}: news'),
        "2026-01-02-named",
    )
    assert calls and sum(calls) == 3
    by_reader = {
        to: (
            str(msg["Subject"]),
            msg.get_body(("html",)).get_content(),
            msg.get_body(("plain",)).get_content(),
        )
        for to, msg in _mails(web, lambda subject: subject.endswith(": news")).items()
    }
    assert set(by_reader) == {"ann@example.org", "bob@example.org", "cy@example.org"}
    subject, html, plain = by_reader["ann@example.org"]
    assert subject == "Ann & <Co>: news"
    assert "Dear Ann &amp; &lt;Co&gt;, welcome." in html and "Dear Ann & <Co>, welcome." in plain
    assert by_reader["bob@example.org"][0] == "Hello: news"
    assert "Dear there, welcome." in by_reader["cy@example.org"][2]
    page = web.client.get("/archive/2026-01-02-named").get_data(as_text=True)
    assert "Dear there, welcome." in page and "__NL_" not in page
    assert "Hello: news" in web.client.get("/archive").get_data(as_text=True)


def test_the_greeting_fallback_lives_in_the_template(tmp_path: Path) -> None:
    issue_path = tmp_path / "2026-01-01-test.md"
    issue_path.write_text(ISSUE, encoding="utf-8")
    from newsletter.authoring.issue_file import read_issue

    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "email.txt.j2").write_text(
        'Hello {{ reader("name", "friend") }}. {{ postal }}{{ settings.postal_address }} '
        "{{ unsubscribe_url }}\n".replace("{{ postal }}", ""),
        encoding="utf-8",
    )
    settings = Settings(templates_dir=str(tmp_path / "templates"))
    rendered = render_issue(read_issue(issue_path), settings)
    out = personalise(rendered, Recipient(email="a@example.org"))
    assert out.text.startswith("Hello friend.")
    assert personalise(rendered, Recipient(email="a@example.org", name="Ann")).text.startswith(
        "Hello Ann."
    )


def test_test_send_subject_comes_from_its_template(tmp_path: Path, monkeypatch) -> None:
    issue_path = tmp_path / "2026-01-01-test.md"
    issue_path.write_text(ISSUE, encoding="utf-8")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "test_subject.txt.j2").write_text("PROOF: {{ subject }}\n", "utf-8")
    settings = Settings(
        templates_dir=str(tmp_path / "templates"),
        outbox_dir=str(tmp_path / "outbox"),
        secret_key="k" * 32,
    )
    send_proof(settings, issue_path, ["me@example.org"])
    (mail,) = (tmp_path / "outbox" / "new").glob("*.eml")
    msg = BytesParser(policy=policy.default).parsebytes(mail.read_bytes())
    assert msg["Subject"] == "PROOF: The test issue subject"


def test_an_old_stored_send_keeps_greeting_there_after_the_upgrade(database_url) -> None:
    engine = make_engine(database_url, upgrade=False)
    migrate.upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sends (issue_id, list_slugs, status, backend, subject, html, text, "
                "source_hash, options, created_at) VALUES ('i', :slugs, 'paused', 'outbox', "
                "'For __NL_NAME__', '<p>Hi __NL_NAME__,</p>', 'Hi __NL_NAME__,', 'h', '{}', :now)"
            ),
            {"slugs": json.dumps([]), "now": utcnow()},
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT subject, html, text FROM sends")).one()
    engine.dispose()
    name_or_there = readers.reader("name", "there")
    assert tuple(row) == (
        f"For {name_or_there}",
        f"<p>Hi {name_or_there},</p>",
        f"Hi {name_or_there},",
    )
    rendered = _rendered(row.html, row.text, row.subject)
    assert personalise(rendered, Recipient(email="a@example.org")).text == "Hi there,"


def test_the_confirmation_subject_comes_from_its_template(web) -> None:
    from newsletter.audience.list_edits import update_list
    from tests.support.web_server import post_form

    update_list(web.engine, "news", name="News & Views")
    post_form(web.client, {"email": "ann@example.org"}, "/subscribe/news")
    (mail,) = _mails(web, lambda subject: True).values()
    assert mail["Subject"] == "Please confirm your subscription to News & Views"  # not &amp;
    pages = web.workdir / "templates" / "pages"
    pages.mkdir(parents=True)
    (pages / "confirm_email.subject.j2").write_text("Confirm: {{ list_name }}\n", "utf-8")
    from newsletter.web import create_app

    client = create_app(web.settings, web.engine).test_client()  # overrides are read at start
    post_form(client, {"email": "bob@example.org"}, "/subscribe/news")
    mails = _mails(web, lambda subject: subject.startswith("Confirm: "))
    assert mails["bob@example.org"]["Subject"] == "Confirm: News & Views"


def test_a_reader_value_in_a_link_address_is_an_error(workdir) -> None:
    path = workdir / "issue.md"
    path.write_text(_with_intro("[Yours](https://example.org/?n={{first_name}})\n\n"), "utf-8")
    errors = [p.message for p in parse_issue(path)[1] if p.severity == "error"]
    assert len(errors) == 1 and "cannot go in a link's address" in errors[0]
