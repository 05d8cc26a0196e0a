"""Mail that comes back to the sender, read from a Maildir (`maildir`) or an IMAP folder
(`imap`): delivery reports and complaints (`reports`), unsubscribe requests to the
List-Unsubscribe `mailto:` and everything else (`classify`, on the bytes scanned by
`mime_scan`, once the bytes are inside the `limits`), what they change in the database
(`outcomes`) and the run that ties them together (`run`), one run per folder (`lock`), and
which IMAP folders mark processed mail with our keyword (`folders`). The whole bounce path,
this package included, is mapped in `sending.return_path`.

May import: `sending` (the return path), `audience`, `db` and the kernel; never `tracking`
(judging hits is not its business), `authoring`, `web` or `cli`.
"""
