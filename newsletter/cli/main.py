"""`newsletter`: the root group, and which module adds each command (loaded when the command
is run, or listed by `--help`)."""

from __future__ import annotations

import importlib

from newsletter.cli.root import cli

COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "archive": ("newsletter.cli.web_cmds",),
    "audience": ("newsletter.cli.audience_cmds",),
    "build": ("newsletter.cli.build_cmds",),
    "check": ("newsletter.cli.issue_cmds",),
    "config": ("newsletter.cli.config_cmds",),
    "db": ("newsletter.cli.config_cmds",),
    "demo": ("newsletter.cli.demo_cmds",),
    "doctor": ("newsletter.cli.doctor_cmds",),
    "init": ("newsletter.cli.init_cmds",),
    "lists": ("newsletter.cli.list_cmds",),
    "mailbox": ("newsletter.cli.mailbox_cmds",),
    "new": ("newsletter.cli.issue_cmds",),
    "preview": ("newsletter.cli.build_cmds",),
    "prune": ("newsletter.cli.prune_cmds",),
    "report": ("newsletter.cli.report_cmds",),
    "schedule": ("newsletter.cli.schedule_cmds",),
    "secret": ("newsletter.cli.secret_cmds",),
    "send": ("newsletter.cli.send_cmds",),
    "send-due": ("newsletter.cli.schedule_cmds",),
    "sequences": ("newsletter.cli.sequence_cmds",),
    "serve": ("newsletter.cli.web_cmds",),
    "status": ("newsletter.cli.status_cmds",),
    "subscribers": ("newsletter.cli.subscriber_cmds", "newsletter.cli.csv_cmds"),
    "test-send": ("newsletter.cli.worker_cmds",),
    "unsubscribe-mailbox": ("newsletter.cli.mailbox_cmds",),
    "worker": ("newsletter.cli.worker_cmds",),
}


def load_command(name: str) -> None:
    """Import the module(s) that add command `name` to the root group. A literal table and a
    loop over it: the layer test reads COMMAND_MODULES as this module's imports."""
    for module in COMMAND_MODULES.get(name, ()):
        importlib.import_module(module)


cli.lazy = COMMAND_MODULES
cli.load = load_command


def main() -> None:
    cli(prog_name="newsletter")
