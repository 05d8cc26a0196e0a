"""newsletter: write issues in Markdown, render email once, send to large lists safely.

The kernel lives here: `errors` (the project's own error tree), `models` (frozen data passed
between parts), `config` (settings) and `tokens` (signed links). Each folder is one part of the
product, and imports point down: kernel <- db <- authoring, audience <- sending, mailbox <- web,
cli (tests/test_layers.py checks it). The README's "Code map" follows one send through them.
"""

__version__ = "0.1.0"
