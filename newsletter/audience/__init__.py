"""The audience: addresses (`addresses`), lists (`lists`) and
changing them (`list_edits`: update, rename, delete), subscribers and their memberships
(`subscribers`, `memberships`, `history`, `member_status`: bounced and complained members
told apart), names as stored, one clean line (`names`),
suppressions and unsubscribing (`suppressions`, `unsubscribe`), bounce and complaint records
and the suppressions they call for (`bounces`), a person's own choices and double opt-in
(`consent`), what a link may undo (`link_rule`), who gets a send (`recipients`), growth per
week (`growth`), CSV import and export (`csv_import`, `csv_rows`, `csv_columns`: other
providers' headers and delimiters, `import_chunk`, `import_suppressions`: `--as`,
`csv_export`), and segments, a small language over a subscriber and one list compiled to bound
SQL: its words and tree (`segment_syntax`), parser (`segment_parse`), compiler (`segment_sql`,
with the engagement predicates in `segment_engagement` and what it is evaluated against in
`segment_scope`) and the audience query, counts and named segments (`segments`).

May import: `db` and the kernel; never `authoring` (a sibling), `tracking`, `sending`,
`mailbox`, `web` or `cli`.
"""
