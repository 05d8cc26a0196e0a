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
- `run`: send-due's sequence pass, top to bottom: register, enrol, each due step sent under its
  own lock through the sending package's batch loop.
- `registry`: the sequences and steps as send-due registers them (paused, removed steps, the
  readers' cursors moved when steps change).
- `enrol`: who joins, incrementally from memberships.subscribed_at, and who left.
- `steps`: a step's one send (rendered once per file version) and its ledger rows as readers
  fall due.
- `screen`: what a step adds to each claimed batch: lateness (max_late) and the reader's link.
- `web_copy`: a reader's signed web copy of a step they got.
- `restart`: subscribers add --restart-sequence.
- `versions`: check's warning about a step edited after readers got it.
- `overview`: what operators read (newsletter sequences: per step sent, waiting, skipped),
  pausing and resuming, and whether a list's confirmation page announces a welcome mail.

May import: `sending`, `tracking`, `authoring`, `audience`, `db` and the kernel.
"""
