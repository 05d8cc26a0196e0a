"""Property tests for two parsers of outside input: SendGrid event batches and signed tokens
(links and recipient tags).

The property: any input gives a result or the project's own one-line error (EventError,
TokenError), never another exception. Nothing here catches broadly: an unexpected exception
fails the test. The strategies are structured: valid-looking events and tokens with hostile
fields (ids too large for any column, wrong types, digits of other scripts, nested garbage,
NUL bytes), not only random text. Budget and seed come from the profile in tests/conftest.py
(HYPOTHESIS_PROFILE=ci in CI).
"""

from __future__ import annotations

import json
import string
import time

from hypothesis import assume, given
from hypothesis import strategies as st

from newsletter import tokens
from newsletter.audience.addresses import parse
from newsletter.errors import TokenError
from newsletter.sending.provider_events import MAX_ID, EventError, read_event

# --- strategies -------------------------------------------------------------------------------

KINDS = ["delivered", "deferred", "bounce", "dropped", "spamreport", "unsubscribe",
         "group_unsubscribe", "open", "click", "processed"]  # fmt: skip
EDGE_TEXT = ["", " ", "0", "-1", "1e5", " 42 ", "9" * 19, "9" * 30, "9" * 5000,
             "\u0663", "\u00b2", "12\x00", "send-", "send-007", "send-" + "9" * 25,
             "bounce", "blocked", "Invalid", "a@b", "@example.org", "x" * 10_000]  # fmt: skip
EDGE_INTS = [0, -1, 1, MAX_ID, MAX_ID + 1, 2**64, 2**70, -(2**63), 10**400]


def hostile_scalars() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(EDGE_INTS),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.text(alphabet=st.characters(categories=["Nd", "No", "Cc", "Zs"]), max_size=25),
        st.sampled_from(EDGE_TEXT),
        st.emails(),
    )


def json_garbage() -> st.SearchStrategy[object]:
    return st.recursive(
        hostile_scalars(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=15,
    )


def ids() -> st.SearchStrategy[object]:
    """What SendGrid sends (digit strings), and everything it should not."""
    return st.integers(1, 10**6).map(str) | st.integers(1, 10**6) | hostile_scalars()


@st.composite
def events(draw: st.DrawFn) -> dict[str, object]:
    """A SendGrid-shaped event whose fields may each be hostile."""
    event: dict[str, object] = {
        "event": draw(st.sampled_from(KINDS) | hostile_scalars()),
        "email": draw(st.emails() | hostile_scalars()),
        "timestamp": draw(st.integers(0, 2**40) | hostile_scalars()),
    }
    optional = {
        "type": st.sampled_from(["bounce", "blocked"]) | hostile_scalars(),
        "reason": st.text(max_size=60) | json_garbage(),
        "response": st.text(max_size=60) | json_garbage(),
        "send_ref": st.integers(1, 10**6).map(lambda n: f"send-{n}") | hostile_scalars(),
        "send_id": ids(),
        "subscriber_id": ids(),
        "custom_args": st.dictionaries(st.sampled_from(["send_ref", "subscriber_id"]), ids())
        | json_garbage(),
        "category": json_garbage(),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    return event


def batches() -> st.SearchStrategy[list[object]]:
    return st.lists(events() | json_garbage(), max_size=6)


# --- webhook events ---------------------------------------------------------------------------


def _dumps(value: object) -> bytes:
    """JSON as a sender might write it (NaN and Infinity as Python writes them)."""
    return json.dumps(value).encode()


@given(events() | json_garbage())
def test_an_event_is_read_or_refused_with_our_own_one_line_error(raw):
    try:
        event = read_event(raw)
    except EventError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 200
        assert "@" not in message  # names the field, never its value (it may be an address)
        return
    assert event.send_id is None or 0 < event.send_id <= MAX_ID
    assert event.subscriber_id is None or 0 < event.subscriber_id <= MAX_ID
    assert len(event.detail) <= 500 and "\x00" not in event.detail
    if event.suppress:
        parse(event.email)  # a suppression always names a real address


@given(batch=batches(), sentinel=st.integers(0, 10**9))
def test_every_signed_list_is_answered_2xx_and_its_good_events_applied(web, hook, batch, sentinel):
    """Through the app, on SQLite and PostgreSQL: whatever the events, the answer is 200, the
    counts add up, and a good event placed after all of them is applied."""
    good = {"event": "spamreport", "email": f"sentinel-{sentinel}@example.org"}
    body = _dumps([*batch, good])
    response = hook.post(None, body=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    counts = response.get_json()
    assert counts["received"] == len(batch) + 1
    assert counts["applied"] + counts["rejected"] <= counts["received"]
    assert (f"sentinel-{sentinel}@example.org", 0, "complained", "sendgrid:spamreport") in set(
        web.suppressions()
    )


@given(st.binary(max_size=200) | json_garbage().map(lambda v: _dumps(v)))
def test_any_signed_body_is_200_or_400_never_an_error(web, hook, body):
    status = hook.post(None, body=body).status_code
    assert status in (200, 400)


# --- tokens -----------------------------------------------------------------------------------

KEY = "fuzzing-key-0123456789abcdefghijklmnopqrstuv"
SIGNER = tokens.Signer([KEY])
TOKEN_CHARS = string.ascii_letters + string.digits + "-_."


def _mutations(token: str) -> st.SearchStrategy[str]:
    """A genuine token changed a little: one character, cut, doubled, parts swapped."""
    payload, stamp, signature = token.split(".")
    return st.one_of(
        st.integers(0, len(token) - 1).flatmap(
            lambda i: st.sampled_from(TOKEN_CHARS).map(lambda c: token[:i] + c + token[i + 1 :])
        ),
        st.integers(0, len(token)).map(lambda i: token[:i]),
        st.just(token + token),
        st.just(f"{signature}.{stamp}.{payload}"),
        st.just(f"{payload}..{signature}"),
        st.just(token.upper()),
    )


@st.composite
def token_texts(draw: st.DrawFn) -> tuple[str, str]:
    """(purpose, text) where the text is random, a mutated genuine token, or a genuine
    signature over a hostile payload."""
    purpose = draw(st.sampled_from(tokens.PURPOSES))
    kind = draw(st.sampled_from(["random", "chars", "mutated", "signed-garbage"]))
    if kind == "random":
        return purpose, draw(st.text(max_size=120))
    if kind == "chars":
        return purpose, draw(st.text(alphabet=TOKEN_CHARS, max_size=120))
    if kind == "mutated":
        genuine = SIGNER.make(purpose, draw(st.integers(0, MAX_ID)), draw(st.integers(0, MAX_ID)))
        return purpose, draw(_mutations(genuine))
    payload = draw(
        json_garbage() | st.lists(st.sampled_from(EDGE_INTS) | st.integers(), max_size=4)
    )
    assume(not (isinstance(payload, float) and payload != payload))  # NaN: not JSON
    return purpose, SIGNER._serializer(purpose).dumps(payload)


@given(token_texts(), st.none() | st.integers(-10, 10**6))
def test_a_token_is_read_or_refused_with_our_own_one_line_error(purpose_text, max_age):
    purpose, text = purpose_text
    try:
        subscriber_id, list_id = SIGNER.read(text, purpose, max_age=max_age)
    except TokenError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert 0 <= subscriber_id <= MAX_ID and 0 <= list_id <= MAX_ID
    try:
        link = SIGNER.read_confirm(text, max_age=max_age)
    except TokenError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert 0 <= link.subscriber_id <= MAX_ID and 0 <= link.list_id <= MAX_ID
        assert link.issued_at.tzinfo is not None
        assert abs(link.issued_at.timestamp() - time.time()) < 3600


@given(st.integers(0, 2**32), st.integers(0, 2**40))
def test_genuine_tokens_always_read_back(subscriber_id, list_id):
    for purpose in tokens.PURPOSES:
        assert SIGNER.read(SIGNER.make(purpose, subscriber_id, list_id), purpose) == (
            subscriber_id,
            list_id,
        )
    link = SIGNER.read_confirm(SIGNER.make_confirm(subscriber_id, list_id))
    assert (link.subscriber_id, link.list_id) == (subscriber_id, list_id)


@st.composite
def tag_texts(draw: st.DrawFn) -> str:
    send_id, subscriber_id = draw(st.integers(0, 2**40 - 1)), draw(st.integers(0, 2**48 - 1))
    genuine = SIGNER.recipient_tag(send_id, subscriber_id, purpose="link")
    return draw(
        st.one_of(
            st.text(max_size=40),
            st.text(alphabet="0123456789abcdefABCDEF \t\n", max_size=40),
            st.integers(0, 31).flatmap(
                lambda i: st.sampled_from("0123456789abcdefg \u0663").map(
                    lambda c: genuine[:i] + c + genuine[i + 1 :]
                )
            ),
            st.just(genuine.upper()),
            st.just(f" {genuine}\n"),
            st.just(genuine[:16] + " " + genuine[16:]),
        )
    )


@given(tag_texts())
def test_a_recipient_tag_is_read_or_refused_with_our_own_one_line_error(text):
    try:
        send_id, subscriber_id = SIGNER.read_recipient_tag(text, purpose="link")
    except TokenError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert 0 <= send_id < 2**40 and 0 <= subscriber_id < 2**48
        assert tokens.TAG_PATTERN.fullmatch(text.strip().lower())
