"""Benchmark: `newsletter subscribers import` of a generated 1M-row CSV on SQLite and PostgreSQL.

Each measurement runs in its own child process; wall time and that child's peak RSS
(ru_maxrss from wait4) are reported beside a baseline measured in the same run: Python's csv
module merely reading the same file. PostgreSQL uses a private schema on the server named by
BENCH_DATABASE_URL / TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
dropped afterwards.

    python bench/import.py [--rows 1000000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
BIG = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "gmx.de",
    "web.de",
    "orange.fr",
    "proton.me",
]

BASELINE = """
import csv, sys
n = 0
with open(sys.argv[1], encoding="utf-8-sig", newline="") as f:
    for row in csv.reader(f):
        n += 1
print(n)
"""


def generate(path: Path, rows: int) -> None:
    """Half the addresses at big providers, half spread over 20,000 smaller domains; a name
    and two attribute columns; 1 % duplicates in another case, 0.5 % invalid."""
    rnd = random.Random(42)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("email,name,city,plan\r\n")
        previous = ""
        for i in range(rows):
            domain = rnd.choice(BIG) if i % 2 else f"company{rnd.randrange(20000)}.com"
            email = f"reader.{i}@{domain}"
            r = rnd.random()
            if r < 0.01 and previous:
                email = previous.upper()
            elif r < 0.015:
                email = f"reader {i}@{domain}"
            previous = email
            f.write(f'{email},"Reader {i}, Jr",City{i % 500},{"pro" if i % 3 else "free"}\r\n')


def measure(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, stdout) of one child process. CPU time is
    shown because this machine is shared: wall time varies with the load, CPU time less."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed with exit code {proc.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.strip()


def run_store(label: str, url: str, csv_path: Path, workdir: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    cli = [sys.executable, "-m", "newsletter"]
    subprocess.run(
        [*cli, "lists", "create", "bench", "--name", "Bench"],
        env=env,
        cwd=workdir,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for run in ("first import", "re-import"):
        t, cpu, mb, out = measure(
            [*cli, "subscribers", "import", str(csv_path), "--list", "bench", "--json"], env
        )
        c = json.loads(out)
        print(
            f"{label:<10} {run:<13} {t:6.1f} s {cpu:6.1f} s  {mb:5.0f} MB   added {c['added']}, "
            f"unchanged {c['unchanged']}, duplicates {c['duplicates']}, "
            f"rejected {c['rejected']}"
        )


def pg_schema(base: str):  # type: ignore[no-untyped-def]
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(base, autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    return admin, schema, f"{base}{sep}options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nl-bench-") as tmp:
        work = Path(tmp)
        csv_path = work / "people.csv"
        t0 = time.perf_counter()
        generate(csv_path, opts.rows)
        size = csv_path.stat().st_size / 1e6
        print(f"generated {opts.rows} rows ({size:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        t, cpu, mb, _ = measure([sys.executable, "-c", BASELINE, str(csv_path)])
        print(f"{'':<24} {'wall':>6}   {'cpu':>6}   {'peak':>6}")
        print(
            f"{'baseline':<10} {'csv.reader':<13} {t:6.1f} s {cpu:6.1f} s  {mb:5.0f} MB"
            "   (read only)"
        )
        run_store("sqlite", f"sqlite:///{work / 'bench.db'}", csv_path, work)
        if opts.no_postgres:
            return
        base = (
            os.environ.get("BENCH_DATABASE_URL")
            or os.environ.get("TEST_DATABASE_URL")
            or PG_DEFAULT
        )
        try:
            admin, schema, url = pg_schema(base)
        except Exception as exc:  # noqa: BLE001 - report and stop: the server is optional
            print(f"postgresql skipped: {exc}")
            return
        try:
            run_store("postgresql", url, csv_path, work)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            admin.close()


if __name__ == "__main__":
    main()
