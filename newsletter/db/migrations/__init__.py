"""Alembic's environment (`env.py`) and the schema revisions (`versions/`), run by `db.migrate`.

A released revision never changes; a schema change is a new revision. Revisions spell out their
tables (`op.create_table`), never `metadata.create_all`, so a later ALTER cannot change what an
earlier step builds; SQLite ALTERs use batch mode.
"""
