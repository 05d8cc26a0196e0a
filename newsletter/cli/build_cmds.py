"""`newsletter build` (email.html, email.txt, web.html, sample.eml) and `newsletter preview`."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter import i18n
from newsletter.authoring.issue_file import resolve_issue
from newsletter.cli.root import cli, reading_engine_from, settings_from
from newsletter.errors import NewsletterError
from newsletter.safe_text import one_line

if TYPE_CHECKING:
    from newsletter import models
    from newsletter.config import Settings

LIST_HELP = (
    "The list whose sender, Reply-To and name the sample shows (default: the issue's first)."
)


def build_issue(
    path: Path, settings: Settings, out_dir: Path, the_list: dict[str, Any] | None = None
) -> tuple[Path, models.RenderedIssue]:
    """Render and write DIR/<id>/ atomically: a temp folder renamed into place at the end.
    sample.eml is the mail of `the_list` (its sender, Reply-To and name)."""
    from newsletter.authoring.issue_file import read_issue
    from newsletter.authoring.render import render_issue
    from newsletter.sending.proof import sample_message

    issue = read_issue(path)
    language = i18n.for_list(issue.language, the_list, settings.language)
    rendered = render_issue(
        issue, settings, list_name=(the_list or {}).get("name", ""), language=language
    )
    files = {
        "email.html": rendered.html.encode(),
        "email.txt": rendered.text.encode(),
        "web.html": rendered.web_html.encode(),
        "sample.eml": sample_message(rendered, settings, the_list),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / issue.id
    tmp = Path(tempfile.mkdtemp(prefix=f".{issue.id}.", dir=out_dir))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{issue.id}.old.", dir=out_dir))
            target.rename(old / "x")
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target, rendered


@cli.command()
@click.argument("issue")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder (default: output_dir setting, 'dist').",
)
@click.option("--list", "slug", default="", help=LIST_HELP)
@click.pass_context
def build(ctx: click.Context, issue: str, out: str | None, slug: str) -> None:
    """Write email.html, email.txt, web.html and sample.eml for ISSUE (a path or an issue id)."""
    from newsletter.authoring.lint import GMAIL_CLIP_BYTES

    settings = settings_from(ctx)
    path = resolve_issue(issue, settings.issues_dir)
    the_list = proof_list_of(ctx, path, slug)
    target, rendered = build_issue(path, settings, Path(out or settings.output_dir), the_list)
    for warning in _warnings(path):
        click.echo(warning, err=True)
    size = len(rendered.html.encode())
    click.echo(f"built {rendered.issue_id} -> {target}/")
    for name in ("email.html", "email.txt", "web.html", "sample.eml"):
        click.echo(f"  {target / name}")
    verdict = "ok" if size <= GMAIL_CLIP_BYTES else "TOO BIG: Gmail will clip it"
    click.echo(
        f"email.html: {size:,} bytes of the {GMAIL_CLIP_BYTES:,}-byte Gmail limit "
        f"({size * 100 // GMAIL_CLIP_BYTES}%, {verdict})"
    )
    defaults = settings.defaults_used()
    shown = [
        d
        for d in (
            "site_url",
            "sender_name",
            "sender_address",
            "postal_address",
            "templates_dir",
            "output_dir",
        )
        if d in defaults
    ]
    if shown:
        click.echo(
            "defaults used (set them in newsletter.toml or NEWSLETTER_<KEY>): "
            + ", ".join(f"{k}={getattr(settings, k)!r}" for k in shown)
        )


def proof_list_of(ctx: click.Context, path: Path, slug: str) -> dict[str, Any]:
    """The list a proof shows (`sending.proof.proof_list`), read from the database without
    creating or upgrading it. A list named with --list must exist; otherwise, without a
    database or without the list, the settings' sender stands in and a note says so."""
    from newsletter.authoring.issue_file import read_issue
    from newsletter.sending.proof import proof_list

    settings = settings_from(ctx)
    issue = read_issue(path)
    try:
        return proof_list(reading_engine_from(ctx), settings, issue, slug)
    except NewsletterError as exc:
        if slug:
            raise
        click.echo(f"note: the proof shows the configured sender ({one_line(str(exc))})", err=True)
        return proof_list(None, settings, issue)


def _local_image_note(issue: Any) -> str:
    """Preview shows an image on a local host (it loads on this machine); say `send` won't."""
    from newsletter.authoring.link_checks import local_images

    found = local_images(issue)
    if not found:
        return ""
    src, host = found[0]
    return (
        f"; note: image '{src}' is on {host}, a local address: it shows in this preview, "
        "but readers cannot load it, so `send` refuses the issue until it is on a public "
        "https:// address"
    )


def _warnings(path: Path) -> list[str]:
    """`check`'s warnings that need no second render (a build that succeeded has no errors)."""
    from newsletter.authoring.issue_file import parse_issue
    from newsletter.authoring.skeleton_text import skeleton_problems

    _, problems = parse_issue(path)
    problems += skeleton_problems(path, path.read_bytes().decode("utf-8", errors="replace"))
    return [str(p) for p in problems if p.severity == "warning"]


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Preview: {id}</title>
<style>body{{margin:0;font:14px sans-serif;background:#e5e7eb}}nav{{padding:8px;text-align:center}}
button{{font:inherit;padding:4px 12px}}.inbox{{margin:6px 0 0}}.inbox span{{color:#555}}
iframe{{display:block;margin:0 auto;border:0;background:#fff;
height:calc(100vh - 48px)}}</style></head><body><nav>
<button onclick="w(700)">Desktop (700 px)</button> <button onclick="w(375)">Mobile (375 px)</button>
<a href="/email.txt">text part</a> <a href="/web.html">web page</a>
<p class="inbox">{inbox}</p></nav>
<iframe id="f" title="email preview" src="/email.html" style="width:700px"></iframe><script>
function w(px){{document.getElementById('f').style.width=px+'px'}}
let v=null;setInterval(async()=>{{const r=await fetch('/version');const t=await r.text();
if(v!==null&&t!==v)document.getElementById('f').contentWindow.location.reload();v=t;}},700);
</script></body></html>"""


class _Preview:
    """Rebuilds in memory whenever the issue file or a template changes (polls mtimes)."""

    def __init__(self, path: Path, settings: Settings, the_list: dict[str, Any] | None = None):
        self.path, self.settings, self.the_list = path, settings, the_list
        self.version, self.pages, self.stamp = 0, {}, ()
        self.lock = threading.Lock()

    @property
    def _list(self) -> dict[str, Any]:
        return self.the_list or {}

    def _inbox_line(self, subject: str, preheader: str) -> str:
        """What an inbox shows before the mail is opened: From, subject, preheader (escaped)."""
        name = self._list.get("from_name") or self.settings.sender_name
        address = self._list.get("from_address") or self.settings.sender_address
        return (
            f"<b>{escape(name)} &lt;{escape(address)}&gt;</b> &middot; {escape(subject)}"
            f" <span>&mdash; {escape(preheader)}</span>"
        )

    def _stamp(self) -> tuple:
        from newsletter.authoring.render import DEFAULT_TEMPLATES

        files = [
            self.path,
            *Path(self.settings.templates_dir).glob("**/*"),
            *DEFAULT_TEMPLATES.glob("**/*"),
        ]
        return tuple((str(f), f.stat().st_mtime_ns) for f in files if f.is_file())

    def refresh(self) -> str | None:
        stamp = self._stamp()
        if stamp == self.stamp:
            return None
        self.stamp = stamp
        from newsletter.authoring.issue_file import read_issue
        from newsletter.authoring.placeholders import personalise
        from newsletter.authoring.render import render_issue
        from newsletter.sending.proof import sample_recipient

        inbox = ""
        try:
            issue = read_issue(self.path)
            language = i18n.for_list(issue.language, self._list, self.settings.language)
            rendered = render_issue(
                issue, self.settings, list_name=self._list.get("name", ""), language=language
            )
            final = personalise(rendered, sample_recipient(self.settings, rendered.issue_id))
            inbox = self._inbox_line(rendered.subject, issue.preheader)
            pages = {
                "/email.html": ("text/html", final.html),
                "/email.txt": ("text/plain", final.text),
                "/web.html": ("text/html", rendered.web_html),
            }
            note = f"rebuilt {rendered.issue_id}" + _local_image_note(issue)
        except NewsletterError as exc:
            pages = {
                k: ("text/plain", f"error: {exc}")
                for k in ("/email.html", "/email.txt", "/web.html")
            }
            note = f"error: {exc}"
        with self.lock:
            page = _PAGE.format(id=escape(self.path.stem), inbox=inbox)
            self.pages = {**pages, "/": ("text/html", page)}
            self.version += 1
        return note


@cli.command()
@click.argument("issue")
@click.option("--port", default=8025, show_default=True, help="Port on 127.0.0.1.")
@click.option("--list", "slug", default="", help=LIST_HELP)
@click.pass_context
def preview(ctx: click.Context, issue: str, port: int, slug: str) -> None:
    """Serve ISSUE's email on 127.0.0.1 with a desktop/mobile switch; rebuild on change."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    settings = settings_from(ctx)
    path = resolve_issue(issue, settings.issues_dir)
    state = _Preview(path, settings, proof_list_of(ctx, path, slug))
    click.echo(state.refresh())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            with state.lock:
                page = (
                    ("text/plain", str(state.version))
                    if self.path == "/version"
                    else state.pages.get(self.path.split("?")[0])
                )
            if page is None:
                self.send_error(404)
                return
            body = page[1].encode()
            self.send_response(200)
            self.send_header("Content-Type", f"{page[0]}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    click.echo(f"previewing on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        while True:
            time.sleep(0.5)
            note = state.refresh()
            if note:
                click.echo(note)
    finally:
        server.shutdown()
