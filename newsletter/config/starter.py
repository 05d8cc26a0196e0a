"""What `newsletter init` writes: a commented `newsletter.toml`, and the `.gitignore` lines
that keep the database, the secrets and the outbox out of a repository.

The five settings a real send needs are written as active lines holding the shipped
placeholders, so the outbox works at once and the pre-flight gate refuses a real send until
they are filled in; every other setting is a commented line with its default.
"""

from __future__ import annotations

# The five settings to fill in before a real send, and why each matters.
FILL_IN = (
    ("site_url", "where the web app is served, over https: unsubscribe links point there"),
    ("sender_name", "the name readers see in From"),
    ("sender_address", "From: an address at your own domain (SPF, DKIM and DMARC align on it)"),
    ("postal_address", "printed in every footer: anti-spam law (CAN-SPAM) requires it"),
    ("backend", "smtp or sendgrid: the default outbox only writes .eml files"),
)

STARTER_TOML = """\
# newsletter.toml: settings of this newsletter (README, Configuration, has them all).
# Environment variables NEWSLETTER_<KEY> win over this file. Secrets never go here: they are
# read only from the environment (NEWSLETTER_SECRET_KEY, DATABASE_URL,
# NEWSLETTER_SMTP_PASSWORD, SENDGRID_API_KEY, ...). `newsletter config` shows what is in force.

# --- Fill these in before a real send (the pre-flight gate refuses one until you do) -------
site_url = "http://127.0.0.1:8000"       # https://news.example.org: the web app, for links
sender_name = "Newsletter"               # the name in From
sender_address = "newsletter@example.com"  # an address at your own domain
postal_address = "Newsletter, 1 Example Street, 00000 Example City"  # in every footer
backend = "outbox"                       # smtp or sendgrid for real mail

# --- Sending -------------------------------------------------------------------------------
# smtp_host = "127.0.0.1"
# smtp_port = 25
# smtp_security = "none"                 # none, starttls or tls
# smtp_username = ""                     # the password: NEWSLETTER_SMTP_PASSWORD
# reply_to = ""
# rate = 0                               # messages per second, 0 = as fast as possible

# --- Mail that comes back, and unsubscribes by mail (README: Your first real newsletter) ---
# bounce_address = ""                    # default: bounces@<sender domain>
# unsubscribe_mailto = ""                # default: unsubscribe@<sender domain>

# --- Lists, folders, the web app -----------------------------------------------------------
# default_list = "newsletter"
# language = "en"
# issues_dir = "issues"
# sequences_dir = "sequences"            # welcome mails and follow-ups (README: Sequences)
# web_host = "127.0.0.1"
# web_port = 8000
"""

GITIGNORE_LINES = (
    "# newsletter: the database, secrets and sent mail stay out of the repository",
    "/newsletter.db*",
    "/.newsletter-secret",
    ".env",
    "/outbox/",
    "/dist/",
    "/journal-*.jsonl",
)
