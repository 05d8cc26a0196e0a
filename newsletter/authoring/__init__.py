"""Authoring: issue files (`issue_file`, `front_matter`, a subject-line test's variants:
`ab_front`, `takeaways`, `send_time`: send_at
with a UTC offset or an IANA zone name), their Markdown (`markdown`,
`link_checks`), rendering once to email and web page (`render`), the per-recipient placeholders
and their one substitution routine (`placeholders`), a reader's own values in templates and
Markdown (`readers`: `reader("first_name", "there")`), a send's links rewritten for click and
open tracking (`tracked_links`, a pure text rewrite), and `newsletter check` (`lint`, with
`skeleton_text`: sample text left from `newsletter new`).

May import: `db` and the kernel (it needs neither tables nor a connection today); never
`audience` (a sibling), `tracking`, `sending`, `mailbox`, `web` or `cli`.
"""
