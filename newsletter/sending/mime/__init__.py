"""The MIME message of a send, built once as a skeleton and filled per recipient: header lines
(`headers`), quoted-printable bodies already in DKIM's relaxed form (`quoted_printable`), the
message itself (`message`), and its DKIM signatures (`dkim`, with the keys from the settings in
`dkim_keys`).

May import: `authoring` (the placeholders it fills), `audience` (the address grammar) and the
kernel; nothing else from `sending`, whose ledger a message never touches.
"""
