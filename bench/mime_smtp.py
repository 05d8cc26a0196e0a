"""Benchmark: the MIME skeleton vs email.message, then the whole `newsletter send` over SMTP,
each figure beside a baseline measured in the same run. Only 127.0.0.1; nothing is asserted.

    python bench/mime_smtp.py [--messages 20000] [--sink node|fast|chunking] [--latency 20]
    python bench/mime_smtp.py --proxy 20        # through a proxy adding 10 ms each way
    python bench/mime_smtp.py --sink lockstep   # a server without PIPELINING, raw client beside
    python bench/mime_smtp.py --dkim --messages 40000 --latency 20   # what DKIM signing costs

1. Per-recipient cost of ``MessageTemplate.render`` (personalisation + complete MIME bytes) for
   the sample issue, against render.personalise + ``email.message.EmailMessage`` per recipient.
2. `newsletter send` of N recipients (SQLite) on DEFAULT settings, start to exit, messages/s
   in all and per connection beside the connection-bound limit (connections / round trip):
   - `--latency MS`: the sink answers at once, then every reply MS late (a relay across a
     network). Sinks: `node` is npm smtp-server (PIPELINING, as relays advertise it; run
     `npm install` in bench/node first), `fast` the project's asyncio sink, `chunking` the same
     offering CHUNKING (BDAT).
   - `--proxy MS`: the node sink directly, then behind tests/support/tcp_proxy.py delaying
     every byte MS/2 each way (the proxy's own CPU counts against the sender on 2 cores).
   - `--sink lockstep`: aiosmtpd without PIPELINING, reading DATA in bulk
     (bench/lockstep_sink.py). First a raw client of 4 processes, each sending pre-built
     bytes with `smtplib.sendmail` in a loop (the sink's own ceiling); then `send` with 4
     connections; then `send` on default settings, with the sender's CPU per message. Rates
     are the sink's steady rate (10th to 90th percentile of arrivals: start-up excluded).
   - `--dkim`: the same send (replies MS late) three times in one run: unsigned, DKIM-signed
     with an RSA-2048 key, and with an Ed25519 key; each signed rate beside the unsigned one
     (targets: RSA >= 0.7x, Ed25519 >= 0.9x). Step 1 then also prints the render cost per
     message unsigned, RSA-signed and Ed25519-signed. Use at least `send_workers_from`
     (40,000) messages, so the default settings use several processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import resource
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


def dkim_keys(work: Path) -> dict[str, Path]:
    """An RSA-2048 and an Ed25519 private key, each in a PEM file only its owner can read."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    made = {
        "rsa-sha256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed25519-sha256": ed25519.Ed25519PrivateKey.generate(),
    }
    files = {}
    work.mkdir(parents=True, exist_ok=True)
    for algorithm, key in made.items():
        path = work / f"{algorithm}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        files[algorithm] = path
    return files


def dkim_toml(algorithm: str, key: Path) -> str:
    return (
        f'dkim_algorithm = "{algorithm}"\ndkim_selector = "bench"\n'
        f'dkim_private_key_file = "{key}"\n'
    )


def bench_signing(template: MessageTemplate, count: int, keys: dict[str, Path]) -> None:
    """Render cost per message: unsigned, then signed with each key (same template)."""
    from newsletter.sending.mime.dkim_keys import signer_for

    who = people(count)
    unsigned = per_message(template.render, who)
    line = f"DKIM render cost ({count} msgs each): unsigned {unsigned * 1e6:,.0f} us/msg"
    for algorithm, path in keys.items():
        settings = load_settings(env={}, config_path=path.with_suffix(".toml"))
        template.sign_with(signer_for(settings))
        signed = per_message(template.render, who)
        line += f"; {algorithm} {signed * 1e6:,.0f} us/msg (+{(signed - unsigned) * 1e6:,.0f})"
    template.sign_with(None)
    print(line)


def bench_dkim(n: int, latency_ms: float, work: Path, keys: dict[str, Path]) -> None:
    plan = {"unsigned": "", **{a: dkim_toml(a, path) for a, path in keys.items()}}
    plan["unsigned again"] = ""
    runs = {}
    for label, extra in plan.items():  # a fresh sink for each send, as bench_latency does
        proc, port = start_sink("node", latency_ms, work)
        try:
            runs[label] = one_send(work, label.replace(" ", "-"), port, n, extra)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    # The baseline is both unsigned runs, before and after: on a shared machine the load drifts
    first, last = runs["unsigned"], runs["unsigned again"]
    base = dataclasses.replace(first, seconds=(first.seconds + last.seconds) / 2)
    conns = connections_of(base)
    print(f"effective settings: {base.settings}")
    print(f"SMTP to the node sink, replies {latency_ms:g} ms late, `newsletter send` of {n:,}:")
    targets = {"rsa-sha256": 0.7, "ed25519-sha256": 0.9}
    for label, sent in runs.items():
        ratio = (
            f" = {base.seconds / sent.seconds:.2f}x the unsigned mean (target >= {targets[label]}x)"
            if label in targets
            else ""
        )
        print(sent.line(n, label, conns, latency_ms) + ratio)
    print(f"  ledger: {', '.join(f'{k} {v.counts}' for k, v in runs.items())}")


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


@dataclass
class Sent:
    seconds: float  # start to exit
    rate: float  # the send's own rate (its summary: without process start-up)
    counts: dict
    settings: str
    cpu: float  # seconds of CPU of the send and its helper processes

    def line(self, n: int, label: str, connections: int, rtt_ms: float = 0.0) -> str:
        bound = f", bound {connections / (rtt_ms / 1000):,.0f}/s" if rtt_ms else ""
        return (
            f"  {label:<28} {n / self.seconds:7,.0f} msg/s start to exit, {self.rate:7,.0f} "
            f"msg/s once started = {self.rate / connections:5,.1f} per connection{bound}; "
            f"CPU {self.cpu / n * 1000:.2f} ms/msg"
        )


def start(command: list[str]) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    return proc, int(line.split()[-1])


def start_sink(kind: str, latency_ms: float, work: Path) -> tuple[subprocess.Popen, int]:
    if kind == "node":
        return start(["node", str(NODE_SINK), "0", str(work / "sink.json"), str(latency_ms)])
    if kind == "lockstep":
        return start([sys.executable, str(ROOT / "bench" / "lockstep_sink.py")])
    command = [sys.executable, "-m", "tests.support.smtp_sink", "--fast"]
    return start(
        command + ["--latency-ms", str(latency_ms)] + ["--chunking"] * (kind == "chunking")
    )


def one_send(work: Path, name: str, port: int, n: int, extra: str = "") -> Sent:
    toml = f'backend = "smtp"\nsmtp_port = {port}\n{extra}'
    project = Project.create(work / name, n, toml, {})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = timed_send(project, "--list", "bench")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    keys = ("backend", "smtp_connections", "batch_size", "send_workers_from", "rate")
    summary = json.loads(run.stdout)
    return Sent(
        run.seconds, summary["rate"], summary["counts"], project.effective_settings(keys), cpu
    )


def connections_of(sent: Sent) -> int:
    return int(sent.settings.split("smtp_connections")[1].split()[0])


def bench_latency(kind: str, n: int, latency_ms: float, work: Path) -> None:
    runs = {}
    for ms in (0.0, latency_ms):
        proc, port = start_sink(kind, ms, work)
        try:
            runs[ms] = one_send(work, f"latency-{ms:g}", port, n)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    at_once, late = runs[0.0], runs[latency_ms]
    conns = connections_of(late)
    print(f"effective settings: {late.settings}")
    print(f"SMTP to the {kind} sink, `newsletter send` of {n:,} recipients:")
    print(at_once.line(n, "replies at once", conns))
    print(late.line(n, f"replies {latency_ms:g} ms late", conns, latency_ms))
    print(
        f"  late / at once: {n / late.seconds / (n / at_once.seconds):.2f} (target >= 1,300 msg/s)"
    )
    print(f"  ledger: at once {at_once.counts}; late {late.counts}")


def bench_proxy(n: int, rtt_ms: float, work: Path) -> None:
    proc, port = start_sink("node", 0.0, work)
    try:
        direct = one_send(work, "direct", port, n)
        proxy, proxy_port = start(
            [
                sys.executable,
                "-m",
                "tests.support.tcp_proxy",
                "--to",
                f"127.0.0.1:{port}",
                "--delay-ms",
                str(rtt_ms / 2),
            ]
        )
        try:
            far = one_send(work, "proxy", proxy_port, n)
        finally:
            proxy.terminate()
            proxy.wait(timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    conns = connections_of(far)
    print(f"effective settings: {far.settings}")
    print(f"SMTP to the node sink, `newsletter send` of {n:,} recipients:")
    print(direct.line(n, "direct", conns))
    print(far.line(n, f"through a {rtt_ms:g} ms proxy", conns, rtt_ms))
    print(f"  proxy / direct: {direct.seconds / far.seconds:.2f} (target >= 1,000 msg/s)")
    print(f"  ledger: direct {direct.counts}; proxy {far.counts}")


def raw_client(port: int, count: int, first: int) -> None:
    """One process of the raw client: pre-built bytes, smtplib.sendmail in a loop."""
    _, template = sample()
    messages = [(r.email, template.render(r)) for r in people(first + count)[first:]]
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for address, data in messages:
            smtp.sendmail("bounces@example.com", [address], data)


def sink_steady(port: int, reset: bool = True) -> tuple[int, float]:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        code, text = smtp.docmd("XSTAT")
        if reset:
            smtp.docmd("XRESET")
    count, steady = text.split()
    return int(count), float(steady)


def bench_lockstep(n: int, work: Path) -> None:
    proc, port = start_sink("lockstep", 0.0, work)
    try:
        sink_steady(port)
        workers = [
            multiprocessing.Process(target=raw_client, args=(port, n // 4, i * (n // 4)))
            for i in range(4)
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        raw_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        raw = sink_steady(port)
        four = one_send(work, "four", port, n, "smtp_connections = 4\n")
        four_steady = sink_steady(port)
        default = one_send(work, "default", port, n)
        default_steady = sink_steady(port)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"SMTP without PIPELINING (aiosmtpd, DATA read in bulk), {n:,} messages, steady rates:")
    print(
        f"  raw client, 4 processes (the sink's ceiling): {raw[1]:7,.0f} msg/s ({raw[0]:,} msgs); "
        f"its CPU {raw_cpu / n * 1000:.2f} ms/msg (smtplib, bytes rendered ahead)"
    )
    print(
        f"  send, 4 connections:  {four_steady[1]:7,.0f} msg/s = "
        f"{four_steady[1] / raw[1]:.2f}x raw "
        f"(target >= 0.8x); CPU {four.cpu / n * 1000:.2f} ms/msg; ledger {four.counts}"
    )
    print(
        f"  send, default settings: {default_steady[1]:7,.0f} msg/s = "
        f"{default_steady[1] / raw[1]:.2f}x raw; sender CPU {default.cpu / n * 1000:.2f} ms/msg "
        f"(target <= 0.5); ledger {default.counts}"
    )
    print(f"  (effective settings of the default run: {default.settings})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=20.0, help="ms added to each reply")
    parser.add_argument("--proxy", type=float, default=0.0, help="round trip added by a proxy, ms")
    parser.add_argument("--sink", choices=["node", "fast", "chunking", "lockstep"], default="node")
    parser.add_argument("--mime", type=int, default=2_000)
    parser.add_argument("--dkim", action="store_true", help="unsigned, RSA and Ed25519 sends")
    args = parser.parse_args()
    if (
        args.sink == "node"
        and not (ROOT / "bench" / "node" / "node_modules" / "smtp-server").is_dir()
    ):
        raise SystemExit("npm smtp-server is missing: run `npm install` in bench/node")
    template = bench_mime(args.mime)
    work = Path(tempfile.mkdtemp(prefix="bench-smtp-"))
    try:
        if args.dkim:
            keys = dkim_keys(work / "keys")
            for algorithm, path in keys.items():
                path.with_suffix(".toml").write_text(dkim_toml(algorithm, path))
            bench_signing(template, args.mime, keys)
            bench_dkim(args.messages, args.latency, work, keys)
        elif args.sink == "lockstep":
            bench_lockstep(args.messages, work)
        elif args.proxy:
            bench_proxy(args.messages, args.proxy, work)
        else:
            bench_latency(args.sink, args.messages, args.latency, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
