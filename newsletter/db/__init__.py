"""The database: the engine and its connection set-up (`engine`), timestamps (`clock`), what
differs between SQLite and PostgreSQL (`dialect`), transactions with errors translated
(`transaction`), the schema at the newest revision (`tables`) and the Alembic migrations that
build it (`migrate`, `migrations/`).

Layer: just above the kernel (errors, models, config, tokens), which is all it may import.
"""
