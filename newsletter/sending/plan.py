"""What `send` is about to do, worked out before a single row is written: read the issue,
resolve its lists, check the key, count the audience or find the earlier send. Bad input fails
here, so the CLI can show the count and ask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from newsletter import i18n, tokens
from newsletter.audience.lists import get_list
from newsletter.audience.recipients import audience_ids
from newsletter.audience.segment_scope import Scope
from newsletter.audience.segments import (
    Segment,
    audience_count,
    combine,
    left_out_untracked,
    read_segment,
    scope_for,
    unknown_attributes,
)
from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.link_checks import local_images
from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.errors import SendError
from newsletter.models import Issue
from newsletter.sending import ab_winner, ledger, sends, workers
from newsletter.sending.ab_sample import sample_size


@dataclass(frozen=True, kw_only=True)
class SendOptions:
    lists: tuple[str, ...] = ()
    backend: str = ""  # "" = settings.backend
    dry_run: bool = False
    rate: float | None = None  # messages/s; None = settings.rate
    limit: int | None = None  # at most this many recipients in this run
    resume: bool = False
    rerender: bool = False
    retry_failed: bool = False
    retry_unknown: bool = False
    workers: int | None = 1  # processes sharing this send (None: by audience, `worker_count`)
    force_preflight: bool = False  # the CLI's pre-flight gate was overridden (recorded)
    where: str = ""  # --where: a segment, joined with the front matter's `segment:` by `and`
    again: bool = False  # --again: a follow-up send of an issue already sent, to `where`
    subject: str = ""  # --subject: the follow-up's own subject
    named: tuple[tuple[str, str], ...] = ()  # segments.toml's named segments
    now: datetime | None = None  # what relative times count back from (send-due's --now)
    send_id: int | None = None  # --send N: act on this send of the issue
    winner: int | None = None  # a subject-line test's winner chosen by hand (0 = A)

    @property
    def retry(self) -> list[str]:
        """The ledger statuses this run sends again on purpose."""
        return [
            s for s, on in (("failed", self.retry_failed), ("unknown", self.retry_unknown)) if on
        ]


@dataclass
class Plan:
    """What `send` is about to do; shown to the user before anything is written."""

    issue: Issue
    lists: list[dict[str, Any]]
    backend: str
    options: SendOptions
    audience: int  # recipients that will be attempted in this run (best estimate)
    existing: sends.SendRow | None = None
    notes: list[str] = field(default_factory=list)
    nothing_to_do: str = ""
    segment: Segment | None = None
    untracked: int = 0  # left out: opted out of tracking, and the segment asks about it
    language: str = ""  # the one language it is rendered in (`i18n.send_language`)

    @property
    def followup(self) -> tuple[str, str] | None:
        """What identifies a follow-up (`sends.find_send`): its segment and subject."""
        if not self.options.again or self.segment is None:
            return None
        return (self.segment.normal, self.options.subject)

    def scope(self, conn: Connection, settings: Settings) -> Scope:
        now = self.options.now or utcnow()
        ids = [lst["id"] for lst in self.lists]
        return scope_for(conn, ids, now, settings.soft_bounce_days)


def prepare(engine: Engine, settings: Settings, path: str | Path, options: SendOptions) -> Plan:
    issue = read_issue(Path(path))  # IssueFileError names every problem
    refuse_local_images(issue)
    slugs = options.lists or issue.lists or (settings.default_list,)
    lists = [get_list(engine, slug) for slug in slugs]  # StoreError for an unknown list
    backend = options.backend or settings.backend
    signer = tokens.signer_for(settings, allow_generated=backend == "outbox")  # no key: refuse
    plan = Plan(issue, lists, backend, options, 0, segment=_segment(issue, options))
    plan.language = language_of(issue, lists, settings)
    if signer.generated_key_path:
        plan.notes.append(
            f"NEWSLETTER_SECRET_KEY is not set: unsubscribe links are signed with "
            f"the generated key in {signer.generated_key_path}"
        )
    with reading(engine) as conn:
        ids = [lst["id"] for lst in lists]
        if options.again:
            _check_again(conn, plan)
        plan.existing = _existing(conn, plan, slugs, ids)
        if plan.existing is None:
            if options.winner is not None:
                raise SendError(f"{issue.id} has no send yet: --winner follows a test phase")
            return _plan_new(conn, settings, plan, slugs)
        counts = ledger.counts(conn, plan.existing.id)
    return _plan_existing(engine, plan, counts, Path(path))


def language_of(issue: Issue, lists: Sequence[dict[str, Any]], settings: Settings) -> str:
    """The send's language; lists that disagree (and no `language:`) are refused."""
    try:
        return i18n.send_language(
            issue.language, [lst.get("language") or "" for lst in lists], settings.language
        )
    except ValueError as exc:
        raise SendError(f"{issue.path}: {exc}") from None


def refuse_local_images(issue: Issue) -> None:
    """An image on a local host shows in `preview` only: a send would mail readers a broken
    picture, so it is refused, naming the image and why."""
    found = local_images(issue)
    if found:
        src, host = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise SendError(
            f"{issue.path}: image '{src}' is on {host}, a local address{more}: readers cannot "
            "load it (it shows in `preview` on this machine only); put the image on a public "
            "https:// address before sending"
        )


def _existing(
    conn: Connection, plan: Plan, slugs: Sequence[str], ids: Sequence[int]
) -> sends.SendRow | None:
    """The send this run continues: --send N; with --resume the issue's latest send when it is
    an unfinished follow-up; else the issue's own send (or the follow-up --again names)."""
    opts, issue_id = plan.options, plan.issue.id
    if opts.send_id is not None:
        found = sends.latest_send(conn, issue_id, opts.send_id)
        if found is None:
            raise SendError(f"{issue_id} has no send #{opts.send_id} (see `newsletter status`)")
        return found
    if opts.resume and not opts.again:
        latest = sends.latest_send(conn, issue_id)
        if latest and latest.status != "done" and sends.followup_of(latest.options):
            return latest
    return sends.find_send(conn, issue_id, ids, followup=plan.followup)


def _segment(issue: Issue, options: SendOptions) -> Segment | None:
    """The front matter's `segment:` and --where, joined with `and`; SegmentError if bad."""
    if options.again and not options.where.strip():
        raise SendError("--again needs --where: who should get the follow-up")
    text = combine(issue.segment, options.where)
    return read_segment(text, dict(options.named)) if text else None


def _check_again(conn: Connection, plan: Plan) -> None:
    """A follow-up is made of an issue already sent, while none of its sends is unfinished."""
    earlier = sends.all_sends(conn, plan.issue.id)
    if not earlier:
        raise SendError(f"{plan.issue.id} was never sent: --again follows up an earlier send")
    for row in earlier:
        if row.status not in ("done", "cancelled"):
            raise SendError(
                f"send #{row.id} of {plan.issue.id} is unfinished: finish it (--resume) or "
                "cancel it before a follow-up"
            )


def _plan_new(conn: Connection, settings: Settings, plan: Plan, slugs: Sequence[str]) -> Plan:
    list_ids = [lst["id"] for lst in plan.lists]
    if plan.segment is not None:  # exact, in the database, suppressions taken off
        scope = plan.scope(conn, settings)
        plan.audience = audience_count(scope, plan.segment)
        plan.untracked = left_out_untracked(scope, plan.segment)
        plan.notes.extend(_segment_notes(conn, plan))
    elif plan.options.dry_run:  # exact, suppressions taken off (no ledger rows)
        plan.audience = sum(1 for _ in audience_ids(conn, list_ids))
    else:  # fast; suppressed members are snapshotted and then skipped with a reason
        plan.audience = _audience_size(conn, list_ids)
    if plan.audience == 0:
        where = f" matching {plan.segment.normal}" if plan.segment else ""
        raise SendError(
            f"no subscribed members{where} in list(s) {', '.join(slugs)}; nothing to send"
            + ("" if where else " (add subscribers first)")
        )
    if (test := plan.issue.ab_test) and not plan.options.again:  # the test phase only
        whole, plan.audience = plan.audience, sample_size(plan.audience, test.share)
        plan.notes.append(
            f"subject-line test: {plan.audience} of {whole} readers get one of "
            f"{len(plan.issue.subjects)} subjects now; the rest get the winner "
            f"{test.wait_seconds // 60} minutes after the test phase is sent"
        )
    return plan


def _segment_notes(conn: Connection, plan: Plan) -> list[str]:
    assert plan.segment is not None
    notes = [
        f"attribute '{name}' was never written by an import: check its spelling"
        for name in unknown_attributes(conn, plan.segment.node)
    ]
    if plan.untracked:
        notes.append(
            f"{plan.untracked} member(s) left out: they opted out of tracking, and the segment "
            "asks about opens or clicks"
        )
    return notes


def _plan_existing(engine: Engine, plan: Plan, counts: dict[str, int], path: Path) -> Plan:
    existing, options, issue = plan.existing, plan.options, plan.issue
    assert existing is not None
    retry = options.retry
    slugs = ", ".join(lst["slug"] for lst in plan.lists)
    plan.audience = counts["queued"] + sum(counts[s] for s in retry)
    if existing.status == "waiting" or options.winner is not None:  # a subject-line test
        plan.audience = ab_winner.check(engine, existing.id, options.winner, options.now)
        return plan
    if existing.status == "done" and not retry:
        plan.nothing_to_do = already_sent(issue.id, slugs, existing.id, counts)
        return plan
    if existing.status == "cancelled" and not (options.resume or retry):
        raise SendError(
            f"send #{existing.id} of {issue.id} was cancelled ({counts['sent']} sent,"
            f" {counts['queued']} not sent); continue it with --resume"
        )
    live = workers.live_workers(engine, existing.id)
    if not (live or options.resume or retry):
        raise SendError(
            f"send #{existing.id} of {issue.id} is unfinished ({counts['queued']} queued, "
            f"{counts['claimed'] + counts['unknown']} unknown); continue it with "
            f"`newsletter send {path} --resume` or stop it with --cancel"
        )
    if existing.source_hash != issue.source_hash:
        plan.notes.append(
            f"{issue.path} changed since send #{existing.id} started: "
            + (
                "the new version goes to the remaining recipients (--rerender)"
                if options.rerender
                else "keeping the stored version (pass --rerender to send the new one)"
            )
        )
    if live:
        plan.notes.append(
            f"joining send #{existing.id} (already running in {len(live)} "
            "process(es)) as another worker"
        )
    return plan


# What an operator can do about each status that is not `sent`, for the "already sent" message.
_FLAGS = {"failed": "--retry-failed", "unknown": "--retry-unknown"}


def already_sent(issue_id: str, slugs: str, send_id: int, counts: dict[str, int]) -> str:
    """'already sent' naming every status that is not `sent`, with the flag that acts on it."""
    others = []
    for status in ("failed", "unknown", "skipped", "queued", "claimed"):
        n = counts.get(status, 0)
        if n:
            flag = _FLAGS.get(status)
            others.append(f"{n} {status}" + (f" (resend with {flag})" if flag else ""))
    rest = f", {', '.join(others)}" if others else ""
    return (
        f"{issue_id} was already sent to {slugs} (send #{send_id}: {counts.get('sent', 0)} "
        f"sent{rest}); nothing sent twice"
    )


def _audience_size(conn: Connection, list_ids: Sequence[int]) -> int:
    m = tables.memberships
    return int(
        conn.execute(
            select(func.count(func.distinct(m.c.subscriber_id))).where(
                m.c.list_id.in_(list(list_ids)), m.c.status == "subscribed"
            )
        ).scalar_one()
    )
