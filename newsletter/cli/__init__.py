"""The command line: the only part of the package that prints. The root group (`root`: settings and
the engine, loaded once per invocation) and the table of which module adds each command, loaded on
demand (`main`). One module per command family: `build_cmds` (build, preview), `issue_cmds` (new,
check), `send_cmds` (send), `worker_cmds` (test-send, worker), `audience_cmds` (audience, and
the named segments of segments.toml), `schedule_cmds` (send-due, schedule), `status_cmds`,
`report_cmds`, `list_cmds`, `subscriber_cmds` and `csv_cmds` (subscribers), `mailbox_cmds`,
`prune_cmds`, `web_cmds` (serve, archive), `config_cmds` (config, db), `secret_cmds` (secret
rotate, retire), `doctor_cmds` and `demo_cmds`; what they share: `progress` (bars or plain lines),
`times` (times as printed), `preflight` (the gate of every send path: check errors, placeholder
settings, skeleton text) and `stopping` (Ctrl-C and SIGTERM: a graceful stop, then one line). Every
project error becomes one line on stderr and exit code 1; `--debug` shows the traceback instead.
Also command modules: `init_cmds` (init: a new newsletter's folder) and `history_cmds` (`lists
--history`, growth per week); `sequence_files` is the sequences' part of new and check,
`sequence_cmds` the sequences command (list, pause, resume) and their part of report and
status.

May import: `web`, `mailbox`, `sequences`, `sending`, `tracking`, `audience`, `authoring`,
`db` and the kernel: everything, as the top.
"""

from newsletter.cli.main import main  # registers every command on `cli`
from newsletter.cli.root import cli

__all__ = ["cli", "main"]
