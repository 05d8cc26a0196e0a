"""The MIME message of a send, built once as a skeleton and filled per recipient: header lines
(`headers`), quoted-printable bodies (`quoted_printable`) and the message itself (`message`).

May import: `authoring` (the placeholders it fills), `audience` (the address grammar) and the
kernel; nothing else from `sending`, whose ledger a message never touches.
"""
