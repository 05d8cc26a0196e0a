"""Sequences: welcome mails and follow-ups, each reader on their own clock.

Modules:
- `model`: a sequence and its steps as read from sequences/NAME/.
- `files`: the sequences folder read into sequences (load_sequences, read_sequences), and the
  rules between a sequence's files (names, "after:" never going backwards).
- `sequence_toml`: a sequence's sequence.toml (lists, join, stop_on_unsubscribe).
- `step_file`: one step, a file in the issue format with "after:" (the issue reader reads it).
- `lint`: "newsletter check" for sequences (the file rules, then each step rendered); `edits`:
  its warning about a step edited after readers got it (read from the database).
- `starter`: the welcome sequence "newsletter new --sequence NAME" writes (from the folder
  starter/ beside it).
- `registry`, `enrol`, `steps`, `screen`, `run`: what send-due registers, who joins, a step's
  one send and its ledger rows, lateness at claim, and the sequence pass of send-due.
- `overview`: what operators read (newsletter sequences: per step sent, waiting, skipped),
  pausing and resuming, and whether a list's confirmation page announces a welcome mail.

May import: `sending`, `tracking`, `authoring`, `audience`, `db` and the kernel.
"""
