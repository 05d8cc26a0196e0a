"""Benchmark: the MIME skeleton vs email.message, and the whole `newsletter send` over SMTP with
DEFAULT settings, to a sink that answers at once and to the same sink answering every reply
`--latency` ms late (a relay across a network), in the same run.

    python bench/mime_smtp.py [--messages 4000] [--latency 20] [--sink node|fast|chunking]

1. Per-recipient cost of ``MessageTemplate.render`` (personalisation + complete MIME bytes) for
   the sample issue, against render.personalise + ``email.message.EmailMessage`` per recipient.
2. `newsletter send` of N recipients (SQLite), start to exit, messages/s in all and per
   connection. The sink: `node` is npm smtp-server (PIPELINING, as relays advertise it; run
   `npm install` in bench/node first), `fast` the project's asyncio sink (PIPELINING),
   `chunking` the same offering CHUNKING (BDAT). Only 127.0.0.1 is used; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sendrun import Project, timed_send  # noqa: E402

from newsletter import models  # noqa: E402
from newsletter.authoring.issue_file import read_issue  # noqa: E402
from newsletter.authoring.placeholders import personalise  # noqa: E402
from newsletter.authoring.render import render_issue  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.sending.mime.message import MessageTemplate  # noqa: E402


def people(n: int) -> list[models.Recipient]:
    return [
        models.Recipient(
            email=f"reader{i}@example.org",
            name=f"Reader Number {i}" if i % 3 else "Zoë Ünicode",
            unsubscribe_url=f"https://news.example.com/unsubscribe/tok{i:08d}.XyZabc.sig{i}",
            preferences_url=f"https://news.example.com/preferences/tok{i:08d}.XyZabc.sig{i}",
            view_url="https://news.example.com/archive/2019-03-01-hanoi-summit",
            unsubscribe_mailto=f"mailto:unsubscribe@example.com?subject=unsubscribe%20tok{i}",
            subscriber_id=i,
        )
        for i in range(1, n + 1)
    ]


def sample() -> tuple[models.RenderedIssue, MessageTemplate]:
    rendered = render_issue(
        read_issue(ROOT / "issues" / "2019-03-01-hanoi-summit.md"), load_settings(env={})
    )
    template = MessageTemplate(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        from_name="Asia Weekly",
        from_address="news@example.com",
        reply_to="editor@example.com",
        list_id_header="Asia weekly <asia-weekly.example.com>",
        send_ref="send-1",
        sender_domain="example.com",
    )
    return rendered, template


def with_email_package(rendered: models.RenderedIssue, r: models.Recipient) -> bytes:
    p = personalise(rendered, r)
    m = EmailMessage()
    m["From"] = "Asia Weekly <news@example.com>"
    m["To"] = f"{r.name} <{r.email}>"
    m["Reply-To"] = "editor@example.com"
    m["Subject"] = p.subject
    m["Date"] = formatdate(usegmt=True)
    m["Message-ID"] = make_msgid(domain="example.com")
    m["List-Id"] = "Asia weekly <asia-weekly.example.com>"
    m["List-Unsubscribe"] = f"<{r.unsubscribe_url}>, <{r.unsubscribe_mailto}>"
    m["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    m["Feedback-ID"] = "send-1:newsletter:example.com"
    m["X-Newsletter-Send"] = "send-1"
    m["X-Newsletter-Subscriber"] = str(r.subscriber_id)
    m.set_content(p.text, cte="quoted-printable")
    m.add_alternative(p.html, subtype="html", cte="quoted-printable")
    return m.as_bytes(policy=policy.SMTP)


def per_message(fn, items) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items)


def bench_mime(count: int) -> MessageTemplate:
    rendered, template = sample()
    who = people(count)
    size = len(template.render(who[0]))
    ours = per_message(template.render, who)
    base_n = max(50, count // 10)
    theirs = per_message(lambda r: with_email_package(rendered, r), who[:base_n])
    print(
        f"MIME ({size:,} bytes/message): skeleton {ours * 1e6:,.0f} us/msg ({count} msgs); "
        f"email.message {theirs * 1e6:,.0f} us/msg ({base_n} msgs); "
        f"speed-up {theirs / ours:.1f}x (target >= 15x)"
    )
    return template


# --- the send command over SMTP -----------------------------------------------------------------

NODE_SINK = ROOT / "bench" / "node" / "smtp_sink.js"


def start_sink(kind: str, latency_ms: float, summary: Path) -> tuple[subprocess.Popen, int]:
    if kind == "node":
        command = ["node", str(NODE_SINK), "0", str(summary), str(latency_ms)]
    else:
        command = [sys.executable, "-m", "tests.support.smtp_sink", "--fast"]
        command += ["--latency-ms", str(latency_ms)] + ["--chunking"] * (kind == "chunking")
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    return proc, int(line.split()[-1])


def one_send(work: Path, kind: str, latency_ms: float, n: int) -> tuple[float, float, dict, str]:
    """(messages/s start to exit, the send's own messages/s once started, ledger counts,
    effective settings) of one `newsletter send` of n."""
    summary = work / f"sink-{latency_ms}.json"
    proc, port = start_sink(kind, latency_ms, summary)
    try:
        toml = f'backend = "smtp"\nsmtp_port = {port}\n'
        project = Project.create(work / f"latency-{latency_ms}", n, toml, {})
        run = timed_send(project, "--list", "bench")
        keys = ("backend", "smtp_connections", "batch_size", "send_workers_from", "rate")
        settings = project.effective_settings(keys)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    summary_json = json.loads(run.stdout)
    return n / run.seconds, summary_json["rate"], summary_json["counts"], settings


def bench_send(kind: str, n: int, latency_ms: float) -> None:
    if kind == "node" and not (ROOT / "bench" / "node" / "node_modules" / "smtp-server").is_dir():
        raise SystemExit("npm smtp-server is missing: run `npm install` in bench/node")
    work = Path(tempfile.mkdtemp(prefix="bench-smtp-"))
    try:
        at_once, own0, counts0, settings = one_send(work, kind, 0, n)
        late, own1, counts1, _ = one_send(work, kind, latency_ms, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    conns = int(settings.split("smtp_connections")[1].split()[0])
    print(f"effective settings: {settings}")
    print(f"SMTP to the {kind} sink, `newsletter send` of {n:,} recipients, start to exit:")
    print(
        f"  replies at once:       {at_once:8,.0f} msg/s = {at_once / conns:6,.1f} per connection"
    )
    print(
        f"  replies {latency_ms:g} ms late:  {late:8,.0f} msg/s = {late / conns:6,.1f} per "
        f"connection ({late / at_once:.2f} of the same run at once; targets >= 1,000 msg/s)"
    )
    print(
        f"  the send's own rate (its summary, without process start-up): at once {own0:,.0f} "
        f"msg/s, {latency_ms:g} ms late {own1:,.0f} msg/s = {own1 / conns:,.1f} per connection"
    )
    print(f"  ledger: at once {counts0}; late {counts1}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4_000)
    parser.add_argument("--latency", type=float, default=20.0, help="ms added to each reply")
    parser.add_argument("--sink", choices=["node", "fast", "chunking"], default="node")
    parser.add_argument("--mime", type=int, default=2_000)
    args = parser.parse_args()
    bench_mime(args.mime)
    bench_send(args.sink, args.messages, args.latency)


if __name__ == "__main__":
    main()
