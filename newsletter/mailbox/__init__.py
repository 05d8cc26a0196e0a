"""Mail that comes back to the sender: unsubscribe requests to the List-Unsubscribe `mailto:`
(`unsubscribe_requests`).

Layer: beside `sending`; may import `audience`, `authoring`, `db` and the kernel, never `web` or
`cli`.
"""
