"""SendGrid path at scale: N subscribers in the database -> the real `newsletter send` command on
DEFAULT settings (ledger, claims, suppression re-checks, tokens, backend, worker processes) ->
a local SendGrid stand-in process, first answering at once, then holding every answer back
`--latency` ms (as the real API does across the internet), in the same run.

Prints, beside baselines measured in the same run (a raw INSERT ... SELECT of N ledger rows,
the stand-in alone receiving pre-built 1000-recipient payloads over one connection): wall time
from start to exit, recipients/s, the largest peak memory of any send process, and the settings
the send ran with (`newsletter config`: no NEWSLETTER_* variable is set).

    python bench/send.py                      # 1,000,000 subscribers, SQLite, 250 ms
    python bench/send.py --n 100000 --latency 250
    python bench/send.py --n 100000 --tracking compare   # click/open tracking off, on, on, off

With `--tracking compare` the run sends four times at zero latency to the same audience (four
lists with the same members), click and open tracking off, on, on, off, and prints the ratio of
the time with tracking on to the time with it off (target: within 10%).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sendrun import Project, timed_send, with_real_settings  # noqa: E402

from newsletter.db import tables  # noqa: E402
from newsletter.db.clock import utcnow  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402

KEY = "SG.bench-key"


def second_list(engine, slug: str) -> None:  # type: ignore[no-untyped-def]
    """A second list with the same members, so a second send of the same issue runs."""
    from newsletter.audience.lists import create_list

    list_id = create_list(engine, slug, slug.title())["id"]
    now = utcnow()
    with engine.begin() as conn:
        ids = conn.execute(select(tables.subscribers.c.id)).scalars().all()
        for i in range(0, len(ids), 50_000):
            conn.execute(
                insert(tables.memberships),
                [
                    {
                        "subscriber_id": sid,
                        "list_id": list_id,
                        "status": "subscribed",
                        "source": "b",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for sid in ids[i : i + 50_000]
                ],
            )


def baseline_insert(engine, list_id: int) -> float:  # type: ignore[no-untyped-def]
    """Raw INSERT ... SELECT of every member into a scratch copy of the ledger table."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch AS SELECT * FROM deliveries WHERE 1 = 0"))
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scratch (send_id, subscriber_id, email, status, attempts, detail, "
                "provider_id, updated_at) SELECT 0, s.id, s.email, 'queued', 0, '', '', "
                "s.updated_at FROM subscribers s JOIN memberships m ON m.subscriber_id = s.id "
                "WHERE m.list_id = :l AND m.status = 'subscribed'"
            ),
            {"l": list_id},
        )
    took = time.perf_counter() - t
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE scratch"))
    return took


def start_standin(port_file: Path, latency_ms: float = 0) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.sendgrid_standin",
            "--api-key",
            KEY,
            "--validate-every",
            "100",
            "--delay-ms",
            str(latency_ms),
            "--summary",
            str(port_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    return proc, int(line.split()[-1])


def stop_standin(proc: subprocess.Popen, summary: Path) -> dict:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return json.loads(summary.read_text())


def baseline_standin(port: int, n: int) -> float:
    """The stand-in alone: pre-built 1000-recipient bodies posted back to back."""
    body = json.dumps(
        {
            "from": {"email": "newsletter@example.com"},
            "subject": "s",
            "content": [
                {"type": "text/plain", "value": "x" * 3000},
                {"type": "text/html", "value": "<p>" + "x" * 20000 + "</p>"},
            ],
            "personalizations": [
                {
                    "to": [{"email": f"user{i}@example.com"}],
                    "substitutions": {"__NL_UNSUBSCRIBE_URL__": "https://e.org/u/" + "t" * 80},
                    "headers": {"List-Unsubscribe": "<https://e.org/u/" + "t" * 80 + ">"},
                    "custom_args": {"send_id": "0", "subscriber_id": str(i)},
                }
                for i in range(1000)
            ],
        }
    ).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    t = time.perf_counter()
    for _ in range(n // 1000):
        conn.request(
            "POST",
            "/v3/mail/send",
            body,
            {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        conn.getresponse().read()
    return time.perf_counter() - t


def baseline_clients(port: int, requests: int = 300) -> tuple[float, float]:
    """Seconds per small request: through the sendgrid package (urllib, a new connection per
    request) and through the backend's kept-alive connection (on loopback, without TLS: a
    real API adds a TLS handshake to every new connection)."""
    from sendgrid import SendGridAPIClient

    from newsletter.sending.delivery.keepalive import KeptAlive

    body = {
        "from": {"email": "newsletter@example.com"},
        "subject": "s",
        "content": [{"type": "text/plain", "value": "x"}],
        "personalizations": [{"to": [{"email": "user1@example.com"}]}],
    }
    sdk = SendGridAPIClient(api_key=KEY, host=f"http://127.0.0.1:{port}")
    t = time.perf_counter()
    for _ in range(requests):
        sdk.client.mail.send.post(request_body=body)
    per_sdk = (time.perf_counter() - t) / requests
    kept = KeptAlive(f"http://127.0.0.1:{port}", timeout=30, idle_limit=15)
    headers = {**sdk.client.request_headers, "Content-Type": "application/json"}
    raw = json.dumps(body).encode()
    t = time.perf_counter()
    for _ in range(requests):
        kept.post("/v3/mail/send", raw, headers)
    per_kept = (time.perf_counter() - t) / requests
    kept.close()
    return per_sdk, per_kept


def one_send(
    project: Project, work: Path, slug: str, latency_ms: float, n: int, extra_toml: str = ""
) -> float:
    """Recipients/s of one whole `newsletter send` to the stand-in answering that late."""
    summary = work / f"standin-{slug}.json"
    proc, port = start_standin(summary, latency_ms)
    toml = f'backend = "sendgrid"\nsendgrid_api_host = "http://127.0.0.1:{port}"\n{extra_toml}'
    (project.folder / "newsletter.toml").write_text(with_real_settings(toml))
    try:
        run = timed_send(project, "--list", slug)
    finally:
        got = stop_standin(proc, summary)
    counts = json.loads(run.stdout)["counts"]
    print(
        f"  answers {latency_ms:g} ms late: {n:,} recipients in {run.seconds:.1f} s = "
        f"{n / run.seconds:,.0f}/s, {run.processes} process(es), peak memory "
        f"{run.peak_mb:.0f} MB per process; ledger {counts}; stand-in accepted "
        f"{got['accepted']:,} ({got['subscriber_ids_unique']:,} distinct) in "
        f"{got['requests']:,} requests over {got['connections']} connections, "
        f"{got['rejected']} rejected"
    )
    return n / run.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--latency", type=float, default=250.0, help="ms before each answer")
    parser.add_argument(
        "--tracking",
        choices=["default", "compare"],
        default="default",
        help="compare: sends with click and open tracking off, on, on, off in one run",
    )
    args = parser.parse_args()
    if args.tracking == "compare":
        compare_tracking(args.n)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    try:
        t = time.perf_counter()
        project = Project.create(work / "project", args.n, "", {"SENDGRID_API_KEY": KEY})
        engine = make_engine(project.url)
        second_list(engine, "late")
        print(f"setup: {args.n:,} subscribers on two lists in {time.perf_counter() - t:.1f} s")
        with engine.connect() as conn:
            list_id = conn.execute(text("SELECT id FROM lists WHERE slug='bench'")).scalar_one()
        raw = baseline_insert(engine, list_id)
        engine.dispose()
        print(f"baseline, raw INSERT ... SELECT of {args.n:,} ledger rows: {raw:.2f} s")
        summary = work / "standin.json"
        proc, port = start_standin(summary)
        sent_alone = min(args.n, 200_000)
        alone = baseline_standin(port, sent_alone)
        per_sdk, per_kept = baseline_clients(port)
        stop_standin(proc, summary)
        print(
            f"baseline, stand-in alone with pre-built payloads: {sent_alone / alone:,.0f} "
            f"recipients/s ({sent_alone:,} in {alone:.1f} s)"
        )
        print(
            f"baseline, one small request: {per_sdk * 1000:.2f} ms through the sendgrid package "
            f"(a connection each), {per_kept * 1000:.2f} ms over a kept-alive connection"
        )
        keys = ("backend", "batch_size", "rate", "sendgrid_concurrency", "sendgrid_keepalive")
        keys += ("send_workers_max", "send_workers_from")
        (project.folder / "newsletter.toml").write_text(
            with_real_settings('backend = "sendgrid"\n')
        )
        print(f"effective settings: {project.effective_settings(keys)}")
        print(f"`newsletter send` of {args.n:,} recipients, start to exit:")
        at_once = one_send(project, work, "bench", 0, args.n)
        late = one_send(project, work, "late", args.latency, args.n)
        print(
            f"  {args.latency:g} ms answers: {late / at_once:.2f} of the same run's zero-latency "
            f"rate (target >= 0.8); 1,000,000 would take {1e6 / late:.0f} s (target <= 60)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare_tracking(n: int) -> None:
    """The same send with click and open tracking off and on, interleaved in one run."""
    work = Path(tempfile.mkdtemp(prefix="bench-send-tracking-"))
    plan = [("off1", False), ("on1", True), ("on2", True), ("off2", False)]
    try:
        project = Project.create(work / "project", n, "", {"SENDGRID_API_KEY": KEY})
        engine = make_engine(project.url)
        for slug, _ in plan:
            second_list(engine, slug)
        engine.dispose()
        seconds: dict[bool, float] = {False: 0.0, True: 0.0}
        for slug, on in plan:
            switch = "true" if on else "false"
            extra = f"track_clicks = {switch}\ntrack_opens = {switch}\n"
            print(f"tracking {'on' if on else 'off'}:")
            seconds[on] += n / one_send(project, work, slug, 0, n, extra)
        print(
            f"tracking on took {seconds[True] / seconds[False]:.3f} times as long as tracking off "
            "(same run, two sends each; target <= 1.10)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
