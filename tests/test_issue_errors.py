"""Issue-file errors and warnings, each with its exact line number in the file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.authoring.issue_file import parse_issue, read_issue
from newsletter.errors import IssueFileError
from tests.support.issue_files import errors_at, minimal, problems_of, write


def test_missing_title(tmp_path: Path) -> None:
    assert errors_at(tmp_path, "---\npreheader: P\n---\nIntro.\n") == [
        (1, "missing required key 'title': add 'title: ...' to the front matter")
    ]


def test_empty_title(tmp_path: Path) -> None:
    assert errors_at(tmp_path, "---\npreheader: P\ntitle:\n---\nIntro.\n") == [
        (3, "'title' is empty: write the issue's title after it")
    ]


def test_no_front_matter(tmp_path: Path) -> None:
    [(line, message)] = errors_at(tmp_path, "# Just markdown\n")
    assert line == 1 and "no front matter" in message


def test_unclosed_front_matter(tmp_path: Path) -> None:
    [(line, message)] = errors_at(tmp_path, "---\ntitle: T\n\nIntro\n")
    assert line == 1 and "not closed" in message


def test_unknown_front_matter_key_suggests(tmp_path: Path) -> None:
    [(line, message)] = errors_at(tmp_path, minimal("preheder: x\n"))
    assert line == 4
    assert message.startswith("unknown key 'preheder' (did you mean 'preheader'?)")


def test_unknown_key_without_close_match(tmp_path: Path) -> None:
    [(line, message)] = errors_at(tmp_path, minimal("zzz: x\n"))
    assert line == 4 and "did you mean" not in message and "valid keys: title" in message


def test_duplicate_front_matter_key(tmp_path: Path) -> None:
    assert errors_at(tmp_path, minimal("title: Again\n")) == [
        (4, "duplicate key 'title' (first on line 2): keep one")
    ]


def test_invalid_yaml_names_its_line(tmp_path: Path) -> None:
    [(line, message)] = errors_at(tmp_path, minimal("subject: a: b\n"))
    assert line == 4
    assert "not valid YAML" in message and "in quotes" in message


def test_naive_send_at(tmp_path: Path) -> None:
    assert errors_at(tmp_path, minimal("send_at: 2019-03-01T14:00:00\n")) == [
        (
            4,
            "send_at '2019-03-01T14:00:00' has no timezone: add a UTC offset like +00:00 or a "
            "zone name like Europe/Berlin",
        )
    ]


def test_date_only_send_at_is_naive(tmp_path: Path) -> None:
    [(line, message)] = errors_at(tmp_path, minimal("send_at: 2019-03-01\n"))
    assert line == 4 and "add a UTC offset like +00:00" in message


def test_unparseable_send_at(tmp_path: Path) -> None:
    [(line, message)] = errors_at(tmp_path, minimal("\nsend_at: next tuesday\n"))
    assert line == 5
    assert message.startswith("send_at 'next tuesday' is not an ISO 8601 date-time")


def test_utc_z_suffix_is_accepted(tmp_path: Path) -> None:
    issue = read_issue(write(tmp_path, minimal("send_at: 2019-03-01T14:00:00Z\n")))
    assert issue.send_at == datetime(2019, 3, 1, 14, tzinfo=UTC)


def test_unparseable_date(tmp_path: Path) -> None:
    assert errors_at(tmp_path, minimal("date: 1st of March\n")) == [
        (4, "date '1st of March' is not a date: write it as YYYY-MM-DD")
    ]


def test_bad_lists(tmp_path: Path) -> None:
    [(line, message)] = errors_at(tmp_path, minimal("lists: [ok, Not A Slug]\n"))
    assert line == 4 and "'Not A Slug'" in message


def test_single_list_as_scalar(tmp_path: Path) -> None:
    assert read_issue(write(tmp_path, minimal("lists: weekly\n"))).lists == ("weekly",)


def test_title_must_be_text(tmp_path: Path) -> None:
    assert errors_at(tmp_path, "---\ntitle: [a, b]\n---\nIntro.\n") == [
        (2, "'title' must be a single value, not a list or mapping")
    ]


def test_empty_issue(tmp_path: Path) -> None:
    assert errors_at(tmp_path, "---\ntitle: T\npreheader: P\n---\n\n\n") == [
        (4, "empty issue: write an intro or a '## ' takeaway after the front matter")
    ]


def test_takeaway_without_headline(tmp_path: Path) -> None:
    assert errors_at(tmp_path, minimal(body="Intro.\n\n##\nSpeaker: A\n\nBody.\n")) == [
        (7, "takeaway heading has no headline: write it after '## '")
    ]


def test_takeaway_without_body(tmp_path: Path) -> None:
    body = "Intro.\n\n## Lonely\nSpeaker: A\n\n## Next\nSpeaker: B\n\nBody.\n"
    assert errors_at(tmp_path, minimal(body=body)) == [
        (7, "takeaway 'Lonely' has no body: write a paragraph under its fields")
    ]


def test_unknown_takeaway_key_suggests(tmp_path: Path) -> None:
    body = "## Headline\nSpeaker: A\nImage-Alt-Text: x\nRoel: Boss\n\nBody.\n"
    found = errors_at(tmp_path, minimal(body=body))
    assert [line for line, _ in found] == [7, 8]
    assert found[0][1].startswith(
        "unknown takeaway key 'Image-Alt-Text' (did you mean 'Image-Alt'?)"
    )
    assert found[1][1].startswith("unknown takeaway key 'Roel' (did you mean 'Role'?)")


def test_duplicate_and_empty_takeaway_keys(tmp_path: Path) -> None:
    body = "## Headline\nSpeaker: A\nspeaker: B\nRole:\n\nBody.\n"
    assert errors_at(tmp_path, minimal(body=body)) == [
        (7, "duplicate 'Speaker' (first on line 6)"),
        (8, "'Role' is empty: give a value or remove the line"),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "example.com/page",
        "htp://example.com",
        "https://",
        "https:///path",
        "https://exa mple.com",
        "javascript:alert(1)",
        "https://localhost",
        "https://example.com:notaport/",
    ],
)
def test_malformed_link_field(tmp_path: Path, url: str) -> None:
    body = f"## Headline\nSpeaker: A\nLink: {url}\n\nBody.\n"
    [(line, message)] = errors_at(tmp_path, minimal(body=body))
    assert line == 7 and message.startswith(f"Link '{url}'")


def test_malformed_image_field_and_missing_alt(tmp_path: Path) -> None:
    body = "## Headline\nSpeaker: A\nImage: ftp://example.com/x.png\n\nBody.\n"
    found = errors_at(tmp_path, minimal(body=body))
    assert [line for line, _ in found] == [7, 7]
    assert found[0][1].startswith("Image 'ftp://example.com/x.png' is not an absolute http(s) URL")
    assert found[1][1] == "Image has no alt text: add 'Image-Alt: what the image shows' under it"


def test_links_and_images_in_markdown_bodies(tmp_path: Path) -> None:
    body = (
        "Intro [ok](https://example.com) and [bad](www.example.com).\n"  # line 5
        "\n"
        "## Headline\n"  # line 7
        "Speaker: A\n"
        "\n"
        "A paragraph that runs\n"  # line 10
        "over lines with ![](https://example.com/x.png) in it,\n"  # line 11
        "and [](https://example.com/empty) too.\n"  # line 12
        "\n"
        "Mail [me](mailto:ed@example.com), ![fine](https://example.com/y.png).\n"  # line 14
    )
    assert errors_at(tmp_path, minimal(body=body)) == [
        (
            5,
            "link 'www.example.com' is not an absolute http(s) or mailto URL: write the full "
            "address, like https://example.com/page",
        ),
        (
            11,
            "image 'https://example.com/x.png' has no alt text: write "
            "![what it shows](https://example.com/x.png)",
        ),
        (
            12,
            "link to 'https://example.com/empty' has no visible text: write "
            "[text](https://example.com/empty)",
        ),
    ]


def test_placeholder_links_are_allowed(tmp_path: Path) -> None:
    body = "Change [your preferences](__NL_PREFERENCES_URL__).\n"
    assert errors_at(tmp_path, minimal(body=body)) == []


def test_raw_html_is_a_warning(tmp_path: Path) -> None:
    body = "Intro <b>bold</b>.\n\n## Headline\nSpeaker: A\n\nBody.\n"
    found = problems_of(tmp_path, minimal(body=body))
    assert [(line, sev) for line, sev, _ in found] == [(5, "warning")]


def test_long_subject_and_missing_preheader_are_warnings(tmp_path: Path) -> None:
    long = "x" * 79
    found = problems_of(tmp_path, f"---\ntitle: {long}\n---\n## H\nSpeaker: A\n\nBody.\n")
    assert [(line, sev) for line, sev, _ in found] == [(1, "warning"), (2, "warning")]
    assert "no preheader" in found[0][2]
    assert found[1][2].startswith("subject is 79 characters")
    # exactly 78 is fine; the warning points at `subject` when it is set
    found = problems_of(tmp_path, minimal(f"subject: {'y' * 78}\n"))
    assert found == []
    found = problems_of(tmp_path, minimal(f"subject: {'é' * 79}\n"))
    assert [(line, sev) for line, sev, _ in found] == [(4, "warning")]


def test_missing_speaker_is_a_warning(tmp_path: Path) -> None:
    found = problems_of(tmp_path, minimal(body="## Headline\n\nBody.\n"))
    assert found == [
        (5, "warning", "takeaway 'Headline' has no Speaker: add 'Speaker: Name' under the heading")
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.md"
    path.write_bytes("---\ntitle: T\n---\ncaf\xe9\n".encode("latin-1"))
    issue, problems = parse_issue(path)
    assert issue is None
    assert [(p.line, p.message) for p in problems] == [
        (4, "not valid UTF-8: save the file as UTF-8")
    ]


def test_read_issue_raises_with_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, minimal("zzz: 1\nsend_at: 2019-03-01T10:00\n"))
    with pytest.raises(IssueFileError) as caught:
        read_issue(path)
    assert [p.line for p in caught.value.problems] == [4, 5]
    # The CLI prints "error: " before it: the message names file:line without repeating it.
    assert str(caught.value).startswith(f"{path}:4: unknown key 'zzz'")
    assert "(and 1 more; run `newsletter check`)" in str(caught.value)


def test_unknown_issue_on_the_command_line_is_one_clear_line(workdir: Path) -> None:
    from click.testing import CliRunner

    from newsletter.cli import cli

    result = CliRunner().invoke(cli, ["build", "nosuch"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "nosuch: error: no such issue: give a file path or the id of a file in issues/ "
        "(e.g. 2019-03-01-hanoi-summit)"
    ]


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(IssueFileError) as caught:
        read_issue(tmp_path / "nope.md")
    assert str(caught.value) == (
        f"{tmp_path / 'nope.md'}: no such issue file (check the name and folder)"
    )


def test_an_issue_file_over_5_mb_is_refused_before_parsing(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from newsletter.authoring import issue_file
    from newsletter.cli import cli

    path = workdir / "huge.md"
    head = "---\ntitle: Huge\n---\nIntro.\n\n## Takeaway\nSpeaker: A\n\n"
    path.write_text(head + "word " * 1_000_001, encoding="utf-8")  # 5,000,005 bytes + head

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the front matter of a refused file was parsed")

    monkeypatch.setattr(issue_file, "parse_front_matter", no_parsing)
    message = f"{path}: the file is over 5 MB; an issue is text (put images on a web server"
    with pytest.raises(IssueFileError) as caught:
        parse_issue(path)
    assert str(caught.value).startswith(message)
    for command in (["check", str(path)], ["build", str(path)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        located = message.replace(": the file", ": error: the file", 1)  # as `check` says it
        assert len(lines) == 1 and lines[0].startswith(located), lines


def test_an_issue_file_of_exactly_5_mb_is_read(tmp_path: Path) -> None:
    head = "---\ntitle: Big\npreheader: P\n---\nIntro.\n\n## Takeaway\nSpeaker: A\n\n"
    body = "x" * (5_000_000 - len(head) - 1) + "\n"
    path = tmp_path / "big.md"
    path.write_text(head + body, encoding="utf-8")
    assert path.stat().st_size == 5_000_000
    issue, problems = parse_issue(path)
    assert issue is not None, problems
