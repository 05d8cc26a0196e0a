"""Settings: every default in one place; `newsletter.toml`, then `NEWSLETTER_<KEY>` env overrides.

Secrets come only from the environment, under their conventional names, and are never read
from the file (a secret in `newsletter.toml` is an error, so it cannot be committed by accident).

Modules: `settings` (the Settings dataclass: every setting and its default; which are
secrets), `loading` (load_settings: the file, then the environment, and where each value came
from), `keys` (which secret keys sign and verify; the outbox's generated key), `checks` (the
rules a loaded value must keep), `preflight` (what a real send must not go out on: the shipped
placeholders, unreachable sites and addresses) and `masking` (what `newsletter config` shows:
secrets hidden, derived values spelled out); `starter` is what `newsletter init` writes. A new
setting is a field in `settings` and, when it
has a rule, a line in `checks`. Import from here: `from newsletter.config import Settings`.

Layer: the kernel; imports only its errors and models.
"""

from newsletter.config.loading import CONFIG_FILE, load_settings
from newsletter.config.masking import MASK, mask_url, masked
from newsletter.config.settings import SECRET_ENV, Settings

__all__ = [
    "CONFIG_FILE",
    "MASK",
    "SECRET_ENV",
    "Settings",
    "load_settings",
    "mask_url",
    "masked",
]
