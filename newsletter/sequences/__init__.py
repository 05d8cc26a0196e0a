"""Sequences: welcome mails and follow-ups, each reader on their own clock.

Modules:
- `model`: a sequence and its steps as read from sequences/NAME/.
- `files`: the sequences folder read into sequences (load_sequences, read_sequences), and the
  rules between a sequence's files (names, "after:" never going backwards).
- `sequence_toml`: a sequence's sequence.toml (lists, join, stop_on_unsubscribe).
- `step_file`: one step, a file in the issue format with "after:" (the issue reader reads it).
- `lint`: "newsletter check" for sequences (the file rules, then each step rendered).
- `starter`: the welcome sequence "newsletter new --sequence NAME" writes (from the folder
  starter/ beside it).

May import: `sending`, `tracking`, `authoring`, `audience`, `db` and the kernel.
"""
