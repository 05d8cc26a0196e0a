"""The command line: the only part of the package that prints.

One module per command family (`*_cmds.py`), each adding its commands to the root group in
`root.py`; `main.py` registers them all. Every project error becomes one line on stderr and exit
code 1; `--debug` shows the traceback instead.

Layer: the top, beside `web`; it may import anything below.
"""

from newsletter.cli.main import main  # registers every command on `cli`
from newsletter.cli.root import cli

__all__ = ["cli", "main"]
