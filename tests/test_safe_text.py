"""The one safe line (`safe_text.one_line`), and the other ideas kept in one place: the time
formats, the "did you mean" hint, site links and the MIME header bits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from newsletter.errors import did_you_mean
from newsletter.safe_text import holds_controls, one_line
from newsletter.sending.mime.headers import bare_address, dot_atom, list_unsubscribe
from newsletter.times import minute_utc, stamp_utc
from newsletter.tokens import site_link

# Every character the one line may never hold.
UNSAFE = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u2028", "\u2029"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)


def test_cr_and_lf_cannot_start_a_header() -> None:
    assert one_line("Ann\r\nBcc: x@example.com") == "Ann Bcc: x@example.com"
    assert one_line("a\rb\nc\x0bd\x0ce") == "a b c d e"


def test_c1_controls_are_taken_out() -> None:
    """U+009B is a terminal's CSI, U+009D its OSC: `\\x9b2J` would clear the screen."""
    assert one_line("x\x9b2J\x9d0;title\x07y") == "x 2J 0;title y"
    assert one_line("next\x85line") == "next line"  # NEL: a line break too


def test_bidirectional_overrides_and_isolates_are_taken_out() -> None:
    assert one_line("\u202eevil\u202c name") == "evil name"
    assert one_line("a\u2066b\u2067c\u2068d\u2069e\u202af\u202bg\u202dh") == "a b c d e f g h"
    assert one_line("one\u2028two\u2029three") == "one two three"


def test_letters_of_any_script_and_joiners_stay() -> None:
    """Only the set above goes: names in any script, and the zero-width non-joiner that
    `placeholders.inert` writes, are kept as they are."""
    assert one_line("Zoë Ünal 山田 عائشة") == "Zoë Ünal 山田 عائشة"
    assert one_line("__\u200cNL") == "__\u200cNL"


def test_blanks_are_collapsed_and_trimmed_and_the_limit_cuts_whole() -> None:
    assert one_line("  a \t b\u00a0 c  ") == "a b c"
    assert one_line("abc def", 4) == "abc"  # the cut leaves no blank at the end
    assert one_line("abc", 10) == "abc"


def test_a_callers_own_separators_go_too() -> None:
    assert one_line("Lee, Ann; Jr", also=",;") == "Lee Ann Jr"
    assert one_line("Lee, Ann") == "Lee, Ann"


def test_holds_controls_names_the_same_set() -> None:
    assert all(holds_controls(f"a{c}b") for c in UNSAFE)
    assert not holds_controls("Zoë  Ünal, 山田\u00a0x")


@given(st.text(), st.one_of(st.none(), st.integers(0, 50)), st.sampled_from(["", ",;"]))
def test_the_line_is_always_safe_short_and_stable(value: str, limit: int | None, also: str):
    line = one_line(value, limit, also=also)
    assert not any(c in line for c in UNSAFE)
    assert not any(c in line for c in also)
    assert line == line.strip() and "  " not in line
    assert all(not c.isspace() or c == " " for c in line)
    assert limit is None or len(line) <= limit
    assert one_line(line, limit, also=also) == line  # cleaning twice changes nothing


@given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Zs"))))
def test_text_without_blanks_or_controls_is_kept_whole(value: str) -> None:
    assert one_line(value) == value


def test_times_are_written_one_way() -> None:
    moment = datetime(2026, 12, 1, 22, 15, 3, tzinfo=UTC)
    assert minute_utc(moment) == "2026-12-01 22:15 UTC"
    assert stamp_utc(moment) == "2026-12-01T22:15:03Z"
    naive = datetime(2026, 12, 1, 22, 15, 3)  # as stored: UTC already
    assert stamp_utc(naive) == "2026-12-01T22:15:03Z"
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert minute_utc(paris) == "2026-12-01 22:15 UTC"


def test_did_you_mean_ignores_case_and_can_compare_another_form() -> None:
    assert did_you_mean("preheder", ["title", "preheader"]) == " (did you mean 'preheader'?)"
    assert did_you_mean("ROEL", ["Speaker", "Role"]) == " (did you mean 'Role'?)"
    assert did_you_mean("zzz", ["title"]) == ""
    known = ["DATABASE_URL", "NEWSLETTER_SITE_URL"]
    hint = did_you_mean(
        "NEWSLETTER_DATABASE_URL", known, compared=lambda v: v.removeprefix("NEWSLETTER_")
    )
    assert hint == " (did you mean 'DATABASE_URL'?)"


def test_site_links_join_with_or_without_a_trailing_slash() -> None:
    for site in (
        "https://example.org/news",
        "https://example.org/news/",
        "https://example.org/news//",
    ):
        assert site_link(site, "/c/1/x") == "https://example.org/news/c/1/x"


def test_header_bits() -> None:
    assert bare_address(' "ann" <ann@example.org>, x; ') == "annann@example.orgx"
    assert dot_atom("send 42: Ünal..", "x") == "send-42-nal"  # a run of others: one "-"
    assert dot_atom("...", "list") == "list"
    urls = ("https://e.org/u/<t> x", "", "mailto:u@e.org?subject=x")
    assert list_unsubscribe(urls) == "<https://e.org/u/tx>,\r\n <mailto:u@e.org?subject=x>"
    assert list_unsubscribe(urls, ", ") == "<https://e.org/u/tx>, <mailto:u@e.org?subject=x>"


def test_a_provider_events_words_are_stored_as_one_safe_line() -> None:
    """SendGrid's reason is printed later (`status`, `report`): no line break, no terminal
    escape, no bidirectional override survives reading the event."""
    from newsletter.sending.provider_events import read_event

    event = read_event(
        {
            "event": "bounce",
            "email": "a@example.org",
            "reason": "550\r\n5.1.1 \x9b2J\u202eno",
            "status": "5.1.1\t",
        }
    )
    assert event.detail == "550 5.1.1 2J no"
    assert event.status == "5.1.1"
