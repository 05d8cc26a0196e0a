"""Render benchmark: in-process builds of the sample issue, and `newsletter build` as a process.

    python3 bench/render.py [--builds 200] [--runs 5]

Prints each figure beside a baseline measured in the same run on the same machine:
- in-process: one build = HTML (Jinja2 -> MJML -> mjml-python -> premailer) + text + web page,
  and personalise() per recipient, which the sender runs once per subscriber;
- whole process: `newsletter build` vs `python -c pass` (interpreter start, the floor) and
  `python -c "import premailer"` (the heaviest import the build needs: a process that only
  imports it is the least any premailer-based build can cost). The npm `mjml` CLI is timed too
  when it is on PATH (it is not installed here; DESIGN.md measured it at ~530 ms).
Targets: < 10 ms per in-process build; a whole build process < 0.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "issues" / "2019-03-01-hanoi-summit.md"
sys.path.insert(0, str(ROOT))


def _in_process(builds: int) -> tuple[float, float, float]:
    from newsletter import models
    from newsletter.authoring.issue_file import read_issue
    from newsletter.authoring.placeholders import personalise
    from newsletter.authoring.render import render_issue
    from newsletter.config import Settings

    settings = Settings(templates_dir=str(ROOT / "bench" / "no-project-templates"))
    issue = read_issue(SAMPLE)
    start = time.perf_counter()
    rendered = render_issue(issue, settings)  # first build: imports, template compile
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(builds):
        rendered = render_issue(issue, settings)
    per_build = (time.perf_counter() - start) / builds
    recipient = models.Recipient(
        email="reader@example.com",
        name="Zoë Reader",
        unsubscribe_url="https://news.example.com/u/abc",
        view_url="https://news.example.com/v",
        preferences_url="https://news.example.com/p/abc",
    )
    n = builds * 20
    start = time.perf_counter()
    for _ in range(n):
        personalise(rendered, recipient)
    per_personalise = (time.perf_counter() - start) / n
    return first, per_build, per_personalise


def _time_process(cmd: list[str], runs: int, cwd: str) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    first, per_build, per_personalise = _in_process(args.builds)
    print(f"in-process ({args.builds} builds of {SAMPLE.name}):")
    print(f"  first build (imports + template compile): {first * 1000:8.1f} ms")
    print(f"  per build, HTML + text + web:             {per_build * 1000:8.2f} ms  (target < 10)")
    print(f"  personalise, per recipient:               {per_personalise * 1e6:8.1f} us")

    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "issues").mkdir()
        shutil.copy(SAMPLE, Path(tmp) / "issues" / SAMPLE.name)
        build = [py, "-m", "newsletter", "build", SAMPLE.stem, "--out", "out"]
        rows = [
            ("python -c pass (baseline)", [py, "-c", "pass"]),
            ("python -c 'import premailer' (baseline)", [py, "-c", "import premailer"]),
        ]
        if shutil.which("mjml"):
            (Path(tmp) / "x.mjml").write_text("<mjml><mj-body></mj-body></mjml>")
            rows.append(("npm mjml CLI (baseline)", ["mjml", "x.mjml", "-s"]))
        rows.append(("newsletter build (whole process)", build))
        _time_process(build, 1, tmp)  # warm the page cache and .pyc files
        print(f"whole process (median of {args.runs} runs):")
        for label, cmd in rows:
            print(f"  {label:42s} {_time_process(cmd, args.runs, tmp) * 1000:8.0f} ms")
        print("  target: newsletter build < 500 ms")


if __name__ == "__main__":
    main()
