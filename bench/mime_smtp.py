"""Benchmark: the MIME skeleton vs email.message, and SMTP sending vs a raw smtplib client.

    python bench/mime_smtp.py [--messages 20000] [--mime 2000]

1. Per-recipient cost of ``MessageTemplate.render`` (personalisation + complete MIME bytes) for
   the sample issue, against render.personalise + ``email.message.EmailMessage`` per recipient.
2. The fast SMTP sink (a separate process) measured alone with a pipelining socket client.
3. N messages over 1 and 4 connections: a raw smtplib client sending pre-built messages, then
   the SMTP backend (which renders each message itself), both to the same sink.
Only 127.0.0.1 is used. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter import models  # noqa: E402
from newsletter.authoring.issue_file import read_issue  # noqa: E402
from newsletter.authoring.placeholders import personalise  # noqa: E402
from newsletter.authoring.render import render_issue  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.sending.delivery.smtp import SMTPBackend  # noqa: E402
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


# --- SMTP ---------------------------------------------------------------------------------------


def start_sink(*extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.smtp_sink", "--fast", "--port", "0", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    return proc, int(line.split()[-1])


def sink_stats(port: int) -> tuple[int, int]:
    with smtplib.SMTP("127.0.0.1", port) as conn:
        code, text = conn.docmd("XSTAT")
    count, distinct = text.split()
    return int(count), int(distinct)


def pipelined_client(port: int, messages: list[bytes], n: int, window: int = 50) -> None:
    """The sink alone: raw socket, transactions pipelined ``window`` at a time."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.recv(4096)
        s.sendall(b"EHLO bench\r\n")
        s.recv(4096)
        sent = 0
        while sent < n:
            k = min(window, n - sent)
            chunk = []
            for j in range(k):
                data = messages[(sent + j) % len(messages)]
                chunk.append(
                    b"MAIL FROM:<news@example.com>\r\nRCPT TO:<alone%d@example.org>\r\n"
                    b"DATA\r\n" % (sent + j)
                )
                chunk.append(data + b".\r\n")
            s.sendall(b"".join(chunk))
            want, got = 4 * k, 0
            while got < want:
                got += s.recv(65536).count(b"\r\n")
            sent += k


def raw_smtplib(
    port: int, messages: list[bytes], rcpts: list[str], conn_id: int, step: int
) -> None:
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for i in range(conn_id, len(rcpts), step):
            conn.sendmail("news@example.com", [rcpts[i]], messages[i % len(messages)])


def timed_threads(target, args_list) -> float:  # noqa: ANN001
    threads = [threading.Thread(target=target, args=a) for a in args_list]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def bench_smtp(template: MessageTemplate, n: int) -> None:
    proc, port = start_sink()
    try:
        prebuilt = [template.render(r) for r in people(200)]
        quoted = [m.replace(b"\r\n.", b"\r\n..") for m in prebuilt]
        for conns in (1, 4):
            before = sink_stats(port)[0]
            secs = timed_threads(pipelined_client, [(port, quoted, n // conns)] * conns)
            got = sink_stats(port)[0] - before
            print(
                f"sink alone, pipelined raw sockets, {conns} conn: {got / secs:,.0f} msg/s "
                f"({got} msgs)"
            )
        who = people(n)
        for conns in (1, 4):
            rcpts = [f"raw{conns}-{r.email}" for r in who]
            before = sink_stats(port)[0]
            secs = timed_threads(
                raw_smtplib, [(port, prebuilt, rcpts, c, conns) for c in range(conns)]
            )
            raw_rate = (sink_stats(port)[0] - before) / secs
            settings = load_settings(
                env={
                    "NEWSLETTER_SMTP_HOST": "127.0.0.1",
                    "NEWSLETTER_SMTP_PORT": str(port),
                    "NEWSLETTER_SMTP_CONNECTIONS": str(conns),
                }
            )
            backend = SMTPBackend(settings)
            before = sink_stats(port)[0]
            start = time.perf_counter()
            statuses: dict[str, int] = {}
            for i in range(0, n, 500):
                for result in backend.send(template, who[i : i + 500]):
                    statuses[result.status] = statuses.get(result.status, 0) + 1
            secs = time.perf_counter() - start
            backend.close()
            ours = (sink_stats(port)[0] - before) / secs
            print(
                f"SMTP {conns} conn, {n} msgs: raw smtplib (pre-built) {raw_rate:,.0f} msg/s; "
                f"backend (renders each) {ours:,.0f} msg/s = {ours / raw_rate:.2f} of raw "
                f"(targets >= 0.8, >= 1,000 msg/s with 4); statuses {statuses}"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    proc, port = start_sink("--no-pipelining")  # the fallback path, for servers without it
    try:
        for conns in (1, 4):
            rate = backend_rate(template, port, conns, people(n))
            print(
                f"SMTP {conns} conn, {n} msgs, sink WITHOUT PIPELINING: backend {rate:,.0f} msg/s"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def backend_rate(template: MessageTemplate, port: int, conns: int, who: list) -> float:
    settings = load_settings(
        env={
            "NEWSLETTER_SMTP_HOST": "127.0.0.1",
            "NEWSLETTER_SMTP_PORT": str(port),
            "NEWSLETTER_SMTP_CONNECTIONS": str(conns),
        }
    )
    backend = SMTPBackend(settings)
    before = sink_stats(port)[0]
    start = time.perf_counter()
    for i in range(0, len(who), 500):
        backend.send(template, who[i : i + 500])
    secs = time.perf_counter() - start
    backend.close()
    return (sink_stats(port)[0] - before) / secs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--mime", type=int, default=2_000)
    args = parser.parse_args()
    template = bench_mime(args.mime)
    bench_smtp(template, args.messages)


if __name__ == "__main__":
    main()
