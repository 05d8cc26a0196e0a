"""Authoring: issue files (`issue_file`, `front_matter`, `takeaways`), their Markdown (`markdown`,
`link_checks`), rendering once to email and web page (`render`), the per-recipient placeholders
and their one substitution routine (`placeholders`), and `newsletter check` (`lint`).

Layer: above `db`, beside `audience`; may import the kernel and `db` (it needs neither tables nor
a connection today), never `sending`, `web` or `cli`.
"""
