"""The database: the engine for a DATABASE_URL and how its connections are set up (SQLite
pragmas and write-lock polling, the deferred read transaction, PostgreSQL's idle ping:
`connection`), the engine every command and the web app open, its schema brought up to date on
first use (`engine`), timestamps (`clock`), what differs between SQLite and PostgreSQL
(`dialect`), transactions with errors translated (`transaction`), the schema at the newest
revision (`tables`) and the Alembic migrations that build it (`migrate`, `migrations/`).

May import: the kernel (errors, models, config, tokens), and nothing else.
"""
