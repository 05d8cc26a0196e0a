"""The audience: addresses (`addresses`), lists (`lists`), subscribers and their memberships
(`subscribers`, `memberships`, `history`), suppressions and unsubscribing (`suppressions`,
`unsubscribe`), bounce and complaint records and the suppressions they call for (`bounces`), a
person's own choices and double opt-in (`consent`), who gets a send (`recipients`), and CSV
import and export (`csv_import`, `csv_rows`, `import_chunk`, `csv_export`).

Layer: above `db`, beside `authoring`; may import the kernel and `db`, never `sending`, `web` or
`cli`.
"""
