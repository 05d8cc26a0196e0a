"""newsletter: write issues in Markdown, render email once, send to large lists safely."""

__version__ = "0.1.0"
