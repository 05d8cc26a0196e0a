"""Render benchmark: in-process builds of the sample issue, and `newsletter build` as a process.

    python3 bench/render.py [--builds 200] [--runs 5]

Prints each figure beside a baseline measured in the same run on the same machine:
- in-process: one build = HTML (Jinja2 -> MJML -> mjml-python -> premailer) + text + web page,
  and personalise() per recipient, which the sender runs once per subscriber;
- whole process: `newsletter build` side by side with the npm `mjml` CLI compiling the same
  issue's MJML alone (runs interleaved, so both see the same machine; `npm install` in
  bench/node provides it, else `mjml` on PATH), and `python -c pass` (interpreter start, the
  floor).
Targets: < 10 ms per in-process build; the whole build <= 0.6x the mjml CLI.
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
        (Path(tmp) / "issue.mjml").write_text(_sample_mjml())
        build = [py, "-m", "newsletter", "build", SAMPLE.stem, "--out", "out"]
        rows = {"newsletter build (whole process)": build, "python -c pass": [py, "-c", "pass"]}
        mjml = _mjml_cli()
        if mjml:
            rows["npm mjml CLI, the same MJML alone"] = [mjml, "issue.mjml", "-s"]
        for cmd in rows.values():
            _time_process(cmd, 1, tmp)  # warm the page cache, .pyc files and node's caches
        times: dict[str, list[float]] = {label: [] for label in rows}
        for _ in range(args.runs):  # interleaved: each round runs every command once
            for label, cmd in rows.items():
                times[label].append(_time_process(cmd, 1, tmp))
        print(f"whole process (median of {args.runs} interleaved runs):")
        medians = {label: statistics.median(t) for label, t in times.items()}
        for label, median in medians.items():
            print(f"  {label:42s} {median * 1000:8.0f} ms")
        if mjml:
            ratio = (
                medians["newsletter build (whole process)"]
                / medians["npm mjml CLI, the same MJML alone"]
            )
            print(f"  newsletter build / mjml CLI: {ratio:.2f} (target <= 0.6)")
        else:
            print("  npm mjml CLI not found: run `npm install` in bench/node")


def _sample_mjml() -> str:
    """The sample issue's MJML, as the build hands it to the compiler."""
    from newsletter.authoring import render
    from newsletter.authoring.issue_file import read_issue
    from newsletter.config import Settings

    settings = Settings(templates_dir=str(ROOT / "bench" / "no-project-templates"))
    context = render.template_context(read_issue(SAMPLE), settings, "")
    return render._render_template(render.environment(settings), render.EMAIL_TEMPLATE, context)


def _mjml_cli() -> str:
    local = ROOT / "bench" / "node" / "node_modules" / ".bin" / "mjml"
    return str(local) if local.exists() else (shutil.which("mjml") or "")


if __name__ == "__main__":
    main()
