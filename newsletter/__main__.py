"""`python -m newsletter`: runs the CLI. It sits in the kernel's folder, but stands above
everything.

May import: `cli`.
"""

from newsletter.cli import main

main()
