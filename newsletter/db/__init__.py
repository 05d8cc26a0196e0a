"""The database: opening it (`engine`: brought up to date for the commands that write, or as it
is for those that only read), connections and their set-up (`connection`: SQLite pragmas and
write lock, read-only transactions, PostgreSQL's idle ping), timestamps (`clock`), what differs
between SQLite and PostgreSQL (`dialect`), the one translation of SQLAlchemy's errors into
StoreError (`errors`), transactions (`transaction`), the hot paths' plain SQL on the driver
(`driver_sql`), the CSV import's set-based statements in each database's fast form (`bulk`),
the schema at the newest revision (`tables`, with its shared base `schema_base`, the columns
derived from others in `derived`, the subject-line test tables `ab_tables` and the sequence
tables `sequence_tables`), what segments spell differently per database (`segment_dialect`) and
the Alembic migrations that build the schema (`migrate`, `migrations/`).

May import: the kernel (errors, models, config, tokens), and nothing else.
"""
