"""Columns derived from others, kept right on every write: the address hash and the domain of
a subscriber (from `email_key`, which never changes) and when a membership became `subscribed`.
Core INSERTs get them as column defaults (`tables`); the import's plain SQL (`bulk`) and the
membership upsert (`audience.memberships`) set them themselves."""

from __future__ import annotations

import hashlib
from typing import Any


def key_hash(key: str) -> str:
    """The address hash: sha256 of the normalised address (`audience.addresses`), what
    suppressions match on, so an erased person stays suppressed without their address."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_domain(key: str) -> str:
    """The part of a normalised address after its last `@` (already lower case)."""
    return key.rpartition("@")[2]


def _from_key(function: Any) -> Any:
    """A column default computed from the row's email_key, so every INSERT through Core keeps
    `address_hash` and `domain` right (the import's plain SQL sets them itself: `db.bulk`)."""
    return lambda context: function(context.get_current_parameters()["email_key"])


hash_default = _from_key(key_hash)
domain_default = _from_key(key_domain)


def subscribed_at_default(context: Any) -> Any:
    """A membership inserted as `subscribed` became so when it was written."""
    row = context.get_current_parameters()
    return row.get("updated_at") if row.get("status") == "subscribed" else None
