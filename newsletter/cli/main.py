"""`newsletter`: the root group, and which module adds each command (loaded when the command
is run, or listed by `--help`)."""

from __future__ import annotations

from newsletter.cli.root import cli

_MODULES = {
    "archive": ("web_cmds",),
    "build": ("build_cmds",),
    "check": ("issue_cmds",),
    "config": ("config_cmds",),
    "db": ("config_cmds",),
    "demo": ("demo_cmds",),
    "lists": ("list_cmds",),
    "mailbox": ("mailbox_cmds",),
    "new": ("issue_cmds",),
    "preview": ("build_cmds",),
    "prune": ("prune_cmds",),
    "report": ("report_cmds",),
    "schedule": ("schedule_cmds",),
    "send": ("send_cmds",),
    "send-due": ("schedule_cmds",),
    "serve": ("web_cmds",),
    "status": ("status_cmds",),
    "subscribers": ("subscriber_cmds", "csv_cmds"),
    "test-send": ("send_cmds",),
    "unsubscribe-mailbox": ("mailbox_cmds",),
    "worker": ("send_cmds",),
}
cli.lazy = {name: tuple(f"newsletter.cli.{m}" for m in mods) for name, mods in _MODULES.items()}


def main() -> None:
    cli(prog_name="newsletter")
