"""Shared fixtures. Area-specific fixtures live in tests/support/*.py, loaded as plugins here."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# `waiting` and `ports` first: other support modules import them, and a plugin imported before
# pytest loads it cannot have its asserts rewritten.
_FIRST = ["waiting", "ports"]
pytest_plugins = [f"tests.support.{stem}" for stem in _FIRST] + sorted(
    f"tests.support.{p.stem}"
    for p in (ROOT / "tests" / "support").glob("*.py")
    if p.stem not in ("__init__", *_FIRST)
)

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE. `ci` (.ci/run): a fixed seed per test
# (derandomize) and a fixed budget, so CI runs the same examples every time. `dev` (default):
# new random examples each run, failures replayed from the local example database. `long`: a
# deep search to run by hand now and then (with --hypothesis-seed=N to repeat it).
_SLOW_FIXTURES = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_FIXTURES,
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=_SLOW_FIXTURES
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=_SLOW_FIXTURES
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

_ENV_PREFIXES = ("NEWSLETTER_",)
_ENV_NAMES = ("DATABASE_URL", "SENDGRID_API_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own configuration or secrets."""
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_TEST_REQUIRE_"):
            continue  # the harness's own switches (which suites must run), not configuration
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            monkeypatch.delenv(name)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _postgres_base_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh, empty database: a SQLite file, or a private schema on the PostgreSQL server
    named by TEST_DATABASE_URL (dropped afterwards, so no test sees another's data)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url():
    """A private schema on the PostgreSQL server (for tests that compare both databases)."""
    with postgres_schema() as url:
        yield url


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a new schema on TEST_DATABASE_URL's server, dropped afterwards; skips the
    test (fails it when NEWSLETTER_TEST_REQUIRE_POSTGRES is set) without a server."""
    base = _postgres_base_url()
    if not base:
        if os.environ.get("NEWSLETTER_TEST_REQUIRE_POSTGRES"):
            pytest.fail("NEWSLETTER_TEST_REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not")
        pytest.skip(
            "PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(base, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("NEWSLETTER_TEST_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
    admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def engine(database_url: str):
    """A migrated engine on `database_url`."""
    from newsletter.db.engine import make_engine

    eng = make_engine(database_url)
    yield eng
    eng.dispose()
