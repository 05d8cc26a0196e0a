"""newsletter: write issues in Markdown, render email once, send to large lists safely.

The kernel lives here: `errors` (the project's own error tree and the "did you mean" hint),
`models` (frozen data passed between parts), `config/` (settings), `tokens` (signed links and
every link to the site), `recipient_tags` (one opaque tag per purpose: links, return path,
Message-ID), `safe_text` (outside text made one safe line, for every header and
everything printed), `times` (the two ways a moment is written) and `i18n` (the gettext
catalogues in locales/ and a send's one language); `__main__` runs the CLI for
`python -m newsletter`. Each folder is one part of the product: `db`, `authoring`, `audience`,
`tracking`, `sending`, `sequences`, `mailbox`, `web` and `cli`. The last paragraph of each
part's docstring says what it may import, as the one table in tests/support/layers.py has it
(the layer test holds the code to that table, and these docstrings and the README's "Code map"
to it too).

May import: nothing; every part imports the kernel.
"""

__version__ = "0.1.0"
