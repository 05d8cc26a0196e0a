"""Progress of `subscribers import` and `subscribers export`: the callbacks of the audience layer
(bytes and rows of an import, rows of an export, each up to its total), the plain lines on a
stderr that is not a terminal, and the rich bar on one that is (a pseudo-terminal), which never
leaks into the CSV on stdout."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.audience.csv_export import REPORT_EVERY, ExportProgress, export_csv
from newsletter.audience.csv_import import ImportProgress, import_csv
from newsletter.audience.lists import get_list
from newsletter.audience.subscribers import get_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.cli import cli, progress
from tests.support.sending import populate, run_cli
from tests.support.terminal import on_terminal

HEADER = "email,name\n"


def _people(path: Path, n: int) -> Path:
    """`n` data rows, all of the same length: every 10th has no valid address, every 7th repeats
    an earlier address in capitals."""
    lines = []
    for i in range(n):
        if i % 10 == 9:
            lines.append(f"x{i:06d}_example.com,N{i:06d}\n")
        elif i % 7 == 6:
            lines.append(f"U{i - 6:06d}@EXAMPLE.COM,N{i:06d}\n")
        else:
            lines.append(f"u{i:06d}@example.com,N{i:06d}\n")
    assert len({len(line) for line in lines}) == 1
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def test_import_reports_bytes_and_rows_up_to_the_whole_file(store, tmp_path):
    path = _people(tmp_path / "people.csv", 20000)
    size, row_bytes = path.stat().st_size, len("u000000@example.com,N000000\n")
    seen: list[ImportProgress] = []
    report = import_csv(store, path, "weekly", chunk_size=1000, on_progress=seen.append)
    assert (report.rejected, report.duplicates) == (2000, 2287)
    assert seen[0] == ImportProgress(0, size, 0)
    assert seen[-1] == ImportProgress(size, size, 20000)
    assert sum(report.counts().values()) == 20000
    assert len(seen) > 15  # one a chunk of 1000 valid first-time rows
    assert all(p.total_bytes == size for p in seen)
    for before, after in zip(seen, seen[1:], strict=False):
        assert before != after
        assert before.bytes_read <= after.bytes_read
        assert before.rows <= after.rows
    for p in seen[1:-1]:  # the bytes of the rows counted, plus the decoder's read-ahead
        parsed = len(HEADER) + p.rows * row_bytes
        assert parsed <= p.bytes_read <= parsed + 16 * 1024, p
    assert seen[1].bytes_read < size / 10


def test_import_of_a_header_alone_still_reaches_the_file_size(store, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("\ufeffemail,name,city\r\n", encoding="utf-8")
    seen: list[ImportProgress] = []
    import_csv(store, path, "weekly", on_progress=seen.append)
    size = path.stat().st_size
    assert seen == [ImportProgress(0, size, 0), ImportProgress(size, size, 0)]


def test_export_reports_rows_written_up_to_the_total(store):
    populate(store, "weekly", 2 * REPORT_EVERY + 7)
    weekly = get_list(store, "weekly")["id"]
    unsubscribe(store, get_subscriber(store, "user0@example.com")["id"], weekly)
    total = 2 * REPORT_EVERY + 6
    seen: list[ExportProgress] = []
    out = io.StringIO()
    assert export_csv(store, "weekly", out, on_progress=seen.append) == total
    assert seen == [
        ExportProgress(0, total),
        ExportProgress(REPORT_EVERY, total),
        ExportProgress(2 * REPORT_EVERY, total),
        ExportProgress(total, total),
    ]
    assert out.getvalue().count("\n") == total + 1
    everyone: list[ExportProgress] = []
    export_csv(store, "weekly", io.StringIO(), status=None, on_progress=everyone.append)
    assert everyone[-1] == ExportProgress(total + 1, total + 1)


@pytest.fixture
def run(store, database_url, workdir):
    """The CLI in this process (stderr is not a terminal), on the database of `store`."""
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(cli, list(args), env={"DATABASE_URL": database_url})
        assert result.exit_code == 0, (result.output, result.stderr)
        return result

    return invoke


def test_quick_commands_print_only_their_summary(run, workdir):
    _people(workdir / "people.csv", 300)
    imported = run("subscribers", "import", "people.csv", "--list", "weekly")
    assert imported.stderr.startswith("people.csv:11: error: 'x000009_example.com'")
    assert "rows/s" not in imported.stderr
    exported = run("subscribers", "export", "--list", "weekly", "-o", "out.csv")
    assert exported.stderr == "wrote 236 rows to out.csv\n"


def test_without_a_terminal_progress_is_plain_lines_on_stderr(run, workdir, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)  # every report, not one per 2 s
    path = workdir / "people.csv"
    path.write_text(HEADER + "".join(f"p{i:05d}@example.com,P\n" for i in range(12000)))
    mb = f"{path.stat().st_size / 1e6:.1f} MB"
    result = run("subscribers", "import", "people.csv", "--list", "weekly")
    lines = result.stderr.splitlines()
    assert lines[0] == f"import people.csv: 0 rows (0.0 MB of {mb}), 0 rows/s"
    assert re.fullmatch(
        r"import people\.csv: 10,000 rows \(0\.\d MB of 0\.\d MB\), [\d,]+ rows/s", lines[1]
    )
    assert re.fullmatch(
        rf"import people\.csv: 12,000 rows \({mb} of {mb}\), [\d,]+ rows/s", lines[2]
    )
    assert len(lines) == 3
    assert result.stdout.startswith("people.csv: added 12000, updated 0,")
    assert len(result.stdout.splitlines()) == 1

    quiet = run("subscribers", "import", "people.csv", "--list", "weekly", "--json")
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["unchanged"] == 12000

    to_file = run("subscribers", "export", "--list", "weekly", "-o", "out.csv")
    lines = to_file.stderr.splitlines()
    assert lines[0] == "export weekly: 0 of 12,000 rows, 0 rows/s"
    assert re.fullmatch(r"export weekly: 5,000 of 12,000 rows, [\d,]+ rows/s", lines[1])
    assert re.fullmatch(r"export weekly: 12,000 of 12,000 rows, [\d,]+ rows/s", lines[-2])
    assert lines[-1] == "wrote 12000 rows to out.csv"
    to_stdout = run("subscribers", "export", "--list", "weekly")
    assert to_stdout.stdout == (workdir / "out.csv").read_text(encoding="utf-8")
    assert "export weekly: 12,000 of 12,000 rows" in to_stdout.stderr


def test_terminal_import_shows_a_bar_then_the_summary(store, database_url, workdir):
    path = _people(workdir / "people.csv", 3000)
    kb = f"{path.stat().st_size / 1000:.1f}"
    code, out = on_terminal(
        ["subscribers", "import", "people.csv", "--list", "weekly"],
        {"DATABASE_URL": database_url},
        workdir,
    )
    assert code == 0, out
    # The bar: label, bytes read of the file's size, rows and rate, rich's ETA column.
    bar = re.search(
        rf"importing .*{re.escape(kb)}/{re.escape(kb)} kB 3,000 rows, [\d,]+ rows/s", out
    )
    assert bar, out
    summary = out.index("people.csv: added 2357, updated 0, unchanged 0, skipped 343 duplicates")
    assert bar.end() < summary
    assert "MB of" not in out  # the plain lines are for non-terminals only


def test_export_to_stdout_keeps_the_bar_out_of_the_csv(store, database_url, workdir):
    populate(store, "weekly", 3 * REPORT_EVERY)
    env = {"DATABASE_URL": database_url}
    with (workdir / "stdout.csv").open("wb") as captured:
        code, terminal = on_terminal(
            ["subscribers", "export", "--list", "weekly"], env, workdir, stdout=captured.fileno()
        )
    assert code == 0, terminal
    assert re.search(rf"exporting .*{3 * REPORT_EVERY}/{3 * REPORT_EVERY} [\d,]+ rows/s", terminal)
    assert "@example.com" not in terminal
    to_file = run_cli(
        "subscribers", "export", "--list", "weekly", "-o", "file.csv", env=env, cwd=workdir
    )
    assert to_file.returncode == 0, to_file.stderr
    csv_bytes = (workdir / "file.csv").read_bytes()
    assert csv_bytes.count(b"\n") == 3 * REPORT_EVERY + 1
    assert (workdir / "stdout.csv").read_bytes() == csv_bytes
