"""newsletter: write issues in Markdown, render email once, send to large lists safely.

The kernel lives here: `errors` (the project's own error tree and the "did you mean" hint),
`models` (frozen data passed between parts), `config/` (settings), `tokens` (signed links and
every link to the site), `safe_text` (outside text made one safe line, for every header and
everything printed) and `times` (the two ways a moment is written).

Each folder is one part of the product, and imports point down: kernel <- db <- authoring,
audience <- sending, mailbox <- web, cli (tests/test_layers.py checks it). The README's "Code
map" follows one send through them.
"""

__version__ = "0.1.0"
