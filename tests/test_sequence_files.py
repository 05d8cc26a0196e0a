"""Sequence files: `sequences/NAME/` read into sequences, each rule of `check` naming file and
line, `check` through the CLI, and `new --sequence` (whose files are the README's example)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import Settings
from newsletter.errors import IssueFileError, Problem
from newsletter.sequences.files import load_sequences, read_sequences
from newsletter.sequences.lint import check_sequences
from newsletter.sequences.starter import STARTER_FILES, starter_text

ROOT = Path(__file__).resolve().parent.parent
NO_DB = "; lists not checked (no database yet)"

TOML = 'lists = ["newsletter"]\n'


def step(after: str | None = "0h", title: str = "Welcome", extra: str = "") -> str:
    """A step file: front matter with `after:` (left out when None), then a plain body."""
    lines = ["---", f"title: {title}", "preheader: The first of a few short mails"]
    if after is not None:
        lines.append(f"after: {after}")
    lines += [extra] if extra else []
    return "\n".join([*lines, "---", "Thank you for subscribing.", ""])


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def problems_of(root: Path) -> list[Problem]:
    return read_sequences(root)[1]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# --- reading ----------------------------------------------------------------------------------


def test_a_sequence_reads_into_steps_in_file_name_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "welcome/sequence.toml": 'lists = ["newsletter", "asia-weekly"]\n',
            "welcome/02-tips.md": step("2d", "Tips"),
            "welcome/01-welcome.md": step("0h"),
            "welcome/03-later.md": step("1w", "Later"),
            "welcome/notes.txt": "not a step",
        },
    )
    [sequence] = load_sequences(tmp_path)
    assert sequence.name == "welcome"
    assert sequence.path == tmp_path / "welcome"
    assert sequence.lists == ("newsletter", "asia-weekly")
    assert (sequence.join, sequence.stop_on_unsubscribe) == ("new", True)
    assert [s.key for s in sequence.steps] == ["01-welcome", "02-tips", "03-later"]
    assert [s.after for s in sequence.steps] == [timedelta(0), timedelta(days=2), timedelta(7)]
    tips = sequence.steps[1]
    assert tips.step_id == "welcome/02-tips" == tips.issue.id
    assert tips.issue.title == "Tips" and tips.issue.date is None  # no date anywhere: fine
    assert tips.issue.lists == sequence.lists and tips.issue.archive is False
    assert problems_of(tmp_path) == []


def test_join_and_stop_on_unsubscribe_are_read(tmp_path: Path) -> None:
    toml = 'lists = ["a"]\njoin = "everyone"\nstop_on_unsubscribe = false\n'
    write(tmp_path, {"s/sequence.toml": toml, "s/01.md": step()})
    [sequence] = load_sequences(tmp_path)
    assert (sequence.join, sequence.stop_on_unsubscribe) == ("everyone", False)


def test_sequences_come_by_name_and_hidden_folders_are_left_out(tmp_path: Path) -> None:
    for name in ("b-two", "A_one", ".git"):
        write(tmp_path, {f"{name}/sequence.toml": TOML, f"{name}/01.md": step()})
    assert [s.name for s in load_sequences(tmp_path)] == ["A_one", "b-two"]


def test_a_missing_folder_has_no_sequences(tmp_path: Path) -> None:
    assert load_sequences(tmp_path / "sequences") == []
    assert check_sequences(tmp_path / "sequences", Settings()) == []


@pytest.mark.parametrize(
    ("text", "delay"),
    [
        ("0h", timedelta(0)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("90m", timedelta(minutes=90)),
        ("1d12h", timedelta(hours=36)),
        ("'1d 12h'", timedelta(hours=36)),
    ],
)
def test_after_takes_minutes_hours_days_weeks(tmp_path: Path, text: str, delay: timedelta) -> None:
    write(tmp_path, {"s/sequence.toml": TOML, "s/01.md": step(text)})
    assert load_sequences(tmp_path)[0].steps[0].after == delay


# --- the rules, each naming file and line -----------------------------------------------------


def _only(root: Path) -> Problem:
    problems = problems_of(root)
    assert len(problems) == 1, problems
    assert problems[0].severity == "error"
    return problems[0]


def test_a_missing_after_is_an_error_at_the_front_matter(tmp_path: Path) -> None:
    write(tmp_path, {"s/sequence.toml": TOML, "s/01-welcome.md": step(None)})
    problem = _only(tmp_path)
    assert (problem.path, problem.line) == (str(tmp_path / "s/01-welcome.md"), 1)
    assert "missing 'after:'" in problem.message and "after: 0h" in problem.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2x", "'after: 2x' is not a delay"),
        ("2", "has no unit"),
        ("'2 days'", "is not a delay"),
        ("30s", "is not a delay"),  # seconds: no unit of a step
        ("-1h", "is not a delay"),
        ("''", "'after:' is empty"),
        ("[1h, 2h]", "one value, not a list"),
        ("99999w", "more than ten years"),
        ("9999999999999999w", "is not a delay"),
    ],
)
def test_a_malformed_after_is_an_error_at_its_line(tmp_path: Path, text: str, words: str) -> None:
    write(tmp_path, {"s/sequence.toml": TOML, "s/01-welcome.md": step(text)})
    problem = _only(tmp_path)
    assert (problem.path, problem.line) == (str(tmp_path / "s/01-welcome.md"), 4)
    assert words in problem.message


def test_after_going_backwards_names_the_later_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "s/sequence.toml": TOML,
            "s/01-welcome.md": step("0h"),
            "s/02-tips.md": step("2d"),
            "s/03-same.md": step("48h"),  # equal is fine
            "s/04-back.md": step("1d12h"),
        },
    )
    problem = _only(tmp_path)
    assert (problem.path, problem.line) == (str(tmp_path / "s/04-back.md"), 4)
    assert "'after: 1d12h' is earlier than 03-same.md's 'after: 2d'" in problem.message
    with pytest.raises(IssueFileError) as caught:
        load_sequences(tmp_path)
    assert caught.value.problems == [problem]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("subjects: [One, Two]", "'subjects': a step has one subject"),
        ("ab_test: {share: 20%, wait: 4h}", "'ab_test': a step cannot be a subject-line test"),
        ("preheaders: [One, Two]", "'preheaders'"),
        ("send_at: 2026-01-01T09:00+00:00", "'send_at'"),
        ("lists: [newsletter]", "name them in sequence.toml"),
        ("segment: opens >= 1", "'segment'"),
        ("archive: true", "never in the archive"),
    ],
)
def test_issue_only_front_matter_is_an_error_in_a_step(
    tmp_path: Path, line: str, words: str
) -> None:
    write(tmp_path, {"s/sequence.toml": TOML, "s/01-welcome.md": step("0h", extra=line)})
    problem = _only(tmp_path)  # one line, in the sequence's words (not an A/B test's)
    assert (problem.path, problem.line) == (str(tmp_path / "s/01-welcome.md"), 5)
    assert words in problem.message


def test_a_step_keeps_every_rule_of_an_issue(tmp_path: Path) -> None:
    text = "---\nafter: 0h\nsubjct: Hi\n---\nBody.\n"
    write(tmp_path, {"s/sequence.toml": TOML, "s/01.md": text})
    messages = {(p.line, p.message.split(";")[0]) for p in problems_of(tmp_path)}
    assert (3, "unknown key 'subjct' (did you mean 'subject'?)") in messages
    assert any("missing required key 'title'" in m for _, m in messages)


def test_a_plain_step_has_no_takeaway_warning_but_an_issue_would(tmp_path: Path) -> None:
    write(tmp_path, {"s/sequence.toml": TOML, "s/01.md": step()})
    assert check_sequences(tmp_path, Settings()) == []
    issue = write(tmp_path / "issues", {"i.md": step(None)}) / "i.md"
    assert "no takeaways" in run("check", str(issue)).output


@pytest.mark.parametrize(
    ("toml", "line", "words"),
    [
        ("", 0, "missing 'lists'"),
        ("lists = []\n", 1, "non-empty array"),
        ('lists = "newsletter"\n', 1, "non-empty array"),
        ('lists = ["News Letter"]\n', 1, "'lists' holds 'News Letter'"),
        ("lists = [1]\n", 1, "'lists' holds 1"),
        ('lists = ["a", "a"]\n', 1, "names a list twice"),
        ('# who\nlists = ["a"]\njoin = "all"\n', 3, "'join' is \"new\""),
        ('lists = ["a"]\n\nstop_on_unsubscribe = "yes"\n', 3, "true or false"),
        ('lists = ["a"]\nlsts = ["b"]\n', 2, "unknown key 'lsts' (did you mean 'lists'?)"),
        ('lists = ["a"]\n[extra]\nx = 1\n', 2, "unknown key 'extra'"),
        ('lists = ["a"]\njoin = \n', 2, "not valid TOML"),
    ],
)
def test_each_sequence_toml_rule_names_file_and_line(
    tmp_path: Path, toml: str, line: int, words: str
) -> None:
    write(tmp_path, {"s/sequence.toml": toml, "s/01.md": step()})
    problem = _only(tmp_path)
    assert (problem.path, problem.line) == (str(tmp_path / "s/sequence.toml"), line)
    assert words in problem.message


def test_a_folder_without_sequence_toml_or_steps_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"no-toml/01.md": step(), "no-steps/sequence.toml": TOML})
    found = {
        (Path(p.path).relative_to(tmp_path).as_posix(), p.line, p.message.split(":")[0])
        for p in problems_of(tmp_path)
    }
    assert found == {("no-toml/sequence.toml", 0, "missing"), ("no-steps", 0, "no steps")}


def test_names_are_letters_digits_dash_underscore(tmp_path: Path) -> None:
    write(tmp_path, {"bad name/sequence.toml": TOML, "bad name/01.md": step()})
    write(tmp_path, {"ok/sequence.toml": TOML, "ok/01 welcome.md": step()})
    found = sorted((Path(p.path).name, p.line) for p in problems_of(tmp_path))
    assert found == [("01 welcome.md", 0), ("bad name", 0)]
    assert all("letters, digits, '-' and '_'" in p.message for p in problems_of(tmp_path))


def test_a_broken_sequence_leaves_the_others_readable(tmp_path: Path) -> None:
    write(tmp_path, {"good/sequence.toml": TOML, "good/01.md": step()})
    write(tmp_path, {"bad/sequence.toml": TOML, "bad/01.md": step("soon")})
    sequences, problems = read_sequences(tmp_path)
    assert [s.name for s in sequences] == ["good"]
    assert [Path(p.path).parent.name for p in problems] == ["bad"]
    with pytest.raises(IssueFileError, match=r"bad/01.md:4: 'after: soon' is not a delay"):
        load_sequences(tmp_path)


# --- newsletter check -------------------------------------------------------------------------


def _line_of(output: str, path: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(path))


def test_check_lints_sequences_beside_issues(workdir: Path) -> None:
    write(workdir, {"issues/2026-01-01-a.md": step(None).replace("Thank", "## H\nSpeaker: A\n\nT")})
    write(workdir, {"sequences/welcome/sequence.toml": TOML})
    write(workdir, {"sequences/welcome/01-welcome.md": step("0h")})
    write(workdir, {"sequences/welcome/02-tips.md": step("1x")})
    result = run("check")
    assert result.exit_code == 1, result.output
    line = _line_of(result.output, "sequences/welcome/02-tips.md")
    assert line.startswith("sequences/welcome/02-tips.md:4: error: 'after: 1x' is not a delay")
    assert result.output.strip().endswith(
        "4 files (1 sequence) checked: 1 error, 0 warnings" + NO_DB
    )


def test_check_without_a_sequences_folder_is_as_before(workdir: Path) -> None:
    write(workdir, {"issues/i.md": step(None).replace("Thank", "## H\nSpeaker: A\n\nT")})
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 file checked: no problems" + NO_DB
    assert run("check", "nowhere").exit_code == 1  # a name that is nothing is still an error


def test_check_with_sequences_only_needs_no_issues_folder(workdir: Path) -> None:
    write(workdir, {"sequences/w/sequence.toml": TOML, "sequences/w/01.md": step()})
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2 files (1 sequence) checked: no problems" + NO_DB


def test_check_of_a_step_file_checks_its_whole_sequence(workdir: Path) -> None:
    write(workdir, {"sequences/w/sequence.toml": TOML, "sequences/w/01.md": step("2d")})
    write(workdir, {"sequences/w/02.md": step("1d"), "sequences/other/01.md": step("soon")})
    for target in ("sequences/w/01.md", "sequences/w", "sequences/w/sequence.toml"):
        result = run("check", target)
        assert result.exit_code == 1, result.output
        assert "sequences/w/02.md:4: error: 'after: 1d' is earlier than 01.md's" in result.output
        assert "other" not in result.output  # only the sequence named
        assert "3 files (1 sequence) checked: 1 error" in result.output
    every = run("check", "sequences")
    assert "sequences/other/01.md:4: error" in every.output
    assert "2 sequences" in every.output


def test_check_uses_the_sequences_dir_setting(workdir: Path) -> None:
    (workdir / "newsletter.toml").write_text('sequences_dir = "drips"\n', encoding="utf-8")
    write(workdir, {"drips/w/sequence.toml": TOML, "drips/w/01.md": step("nope")})
    write(workdir, {"sequences/x/sequence.toml": "broken"})  # not the folder in force
    result = run("check")
    assert result.exit_code == 1
    assert "drips/w/01.md:4: error: 'after: nope' is not a delay" in result.output
    assert "sequences/x" not in result.output


def test_check_names_a_sequence_list_the_database_lacks(workdir: Path) -> None:
    assert run("lists", "create", "newsletter", "--name", "News").exit_code == 0
    toml = '# lists\nlists = ["newsletter", "gone"]\n'
    write(workdir, {"sequences/w/sequence.toml": toml, "sequences/w/01.md": step()})
    result = run("check")
    assert result.exit_code == 1, result.output
    assert (
        "sequences/w/sequence.toml:2: error: unknown list 'gone' (known: newsletter; create it "
        "with `newsletter lists create gone --name ...`)" in result.output
    )
    assert "lists not checked" not in result.output


# --- newsletter new --sequence ----------------------------------------------------------------


def test_new_sequence_writes_a_welcome_that_passes_strict_check(workdir: Path) -> None:
    assert run("lists", "create", "newsletter", "--name", "News").exit_code == 0
    result = run("new", "--sequence", "welcome")
    assert result.exit_code == 0, result.output
    assert result.output.split() == [f"sequences/welcome/{name}" for name in STARTER_FILES]
    checked = run("check", "--strict")
    assert checked.exit_code == 0, checked.output
    assert checked.output.strip() == "3 files (1 sequence) checked: no problems"
    [sequence] = load_sequences(workdir / "sequences")
    assert [(s.key, s.after) for s in sequence.steps] == [
        ("01-welcome", timedelta(0)),
        ("02-tips", timedelta(days=2)),
    ]
    assert sequence.lists == ("newsletter",) and sequence.join == "new"


def test_new_sequence_follows_default_list_and_sequences_dir(workdir: Path) -> None:
    settings = 'default_list = "asia-weekly"\nsequences_dir = "drips"\n'
    (workdir / "newsletter.toml").write_text(settings, encoding="utf-8")
    assert run("new", "--sequence", "onboarding").exit_code == 0
    [sequence] = load_sequences(workdir / "drips")
    assert (sequence.name, sequence.lists) == ("onboarding", ("asia-weekly",))


def test_new_sequence_refuses_to_overwrite_and_bad_names(workdir: Path) -> None:
    write(workdir, {"sequences/welcome/02-tips.md": "mine"})
    result = run("new", "--sequence", "welcome")
    assert result.exit_code == 1
    assert "sequences/welcome/02-tips.md already exists" in result.output
    assert (workdir / "sequences/welcome/02-tips.md").read_text() == "mine"
    assert sorted(p.name for p in (workdir / "sequences/welcome").iterdir()) == ["02-tips.md"]
    bad = run("new", "--sequence", "../up")
    assert bad.exit_code == 1 and "a sequence's name is letters" in bad.output
    assert not (workdir / "up").exists()
    both = run("new", "Title", "--sequence", "x")
    assert both.exit_code == 1 and "--sequence NAME takes no title" in both.output
    assert run("new").exit_code == 1


def test_the_readme_example_is_what_new_sequence_writes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = dict(
        re.findall(
            r"<!-- sequence example: sequences/welcome/(\S+) -->\n```\w+\n(.*?)```", readme, re.S
        )
    )
    assert sorted(blocks) == sorted(STARTER_FILES)
    for name in STARTER_FILES:
        assert blocks[name] == starter_text(name, "newsletter")
