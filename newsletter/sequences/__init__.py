"""Sequences: welcome mails and follow-ups, each reader on their own clock.

Modules:
- `model`: a sequence and its steps as read from `sequences/<name>/`.

May import: `sending`, `tracking`, `authoring`, `audience`, `db` and the kernel.
"""
