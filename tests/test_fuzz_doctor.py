"""Property tests of what `doctor` reads from DNS, which anyone who controls a zone (or an
include target) writes: SPF, DKIM and DMARC records of any text never crash a check, every
finding is one of the four verdicts, and the lookup count stays bounded however records
include each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from newsletter.config import Settings
from newsletter.sending.doctor.auth_checks import spf_findings, tags
from newsletter.sending.doctor.domain import Names
from newsletter.sending.doctor.lookup import Answer
from newsletter.sending.doctor.policy_checks import dmarc_findings
from newsletter.sending.doctor.spf import evaluate, walk

VERDICTS = {"pass", "warn", "fail", "info"}
NAMES = ["a.example", "b.example", "c.example", "missing.example"]


@dataclass
class ZoneLookup:
    """`Lookup`'s interface over a dict: name -> TXT records (A for every name in it)."""

    txt: dict[str, list[str]]
    asked: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, name: str, kind: str) -> Answer:
        self.asked.append((name, kind))
        if name not in self.txt:
            return Answer(nxdomain=True)
        if kind == "TXT":
            return Answer(tuple(self.txt[name]))
        if kind == "A":
            return Answer(("93.184.215.14",))
        if kind == "MX":
            return Answer((f"10 {name}.",))
        return Answer()

    def txt_starting(self, name: str, prefix: str) -> tuple[list[str], Answer]:
        answer = self(name, "TXT")
        return [r for r in answer.records if r.lower().startswith(prefix.lower())], answer

    def addresses(self, name: str) -> tuple[list[str], str]:
        return list(self(name, "A").records), ""


terms = st.one_of(
    st.sampled_from(["-all", "~all", "+all", "?all", "all", "mx", "a", "ptr", "a/24", "mx:/x"]),
    st.builds(lambda q, m, n: f"{q}{m}:{n}", st.sampled_from(["", "+", "-", "~"]),
              st.sampled_from(["include", "a", "mx", "exists", "ip4", "ip6"]),
              st.sampled_from([*NAMES, "1.2.3.0/24", "::1/64", "", "%{i}", "999.1.1.1"])),
    st.builds(lambda n: f"redirect={n}", st.sampled_from(NAMES)),
    st.text(max_size=12),
)  # fmt: skip
spf = st.lists(terms, max_size=12).map(lambda t: " ".join(["v=spf1", *t]))


@given(st.dictionaries(st.sampled_from(NAMES[:3]), st.lists(spf, max_size=2), min_size=1))
def test_any_spf_tree_is_counted_and_judged_without_crashing(zone: dict[str, list[str]]) -> None:
    lookup = ZoneLookup(zone)
    tree = walk(lookup, "a.example")  # type: ignore[arg-type]
    assert tree.lookups >= 0 and tree.voids >= 0
    assert len(lookup.asked) < 200  # includes that loop are cut off at the 10-lookup limit
    result = evaluate(lookup, "a.example", "93.184.215.14")  # type: ignore[arg-type]
    assert result in {"pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"}
    names = Names.of(
        Settings(sender_address="n@a.example", smtp_host="relay.example"), "n@a.example"
    )
    for finding in spf_findings(Settings(), names, lookup):  # type: ignore[arg-type]
        assert finding.status in VERDICTS  # (the CLI prints evidence through one_line)


@given(st.text(max_size=200))
def test_any_record_text_reads_as_tags(text: str) -> None:
    values = tags(text)
    assert all(k == k.lower() and k.isalpha() for k in values)


@given(
    st.text(max_size=120).map(lambda t: "v=DMARC1; " + t),
    st.sampled_from(["a.example", "x.a.example"]),
)
def test_any_dmarc_record_is_judged(record: str, from_domain: str) -> None:
    lookup = ZoneLookup({f"_dmarc.{from_domain}": [record]})
    names = Names.of(Settings(sender_address=f"n@{from_domain}"), f"n@{from_domain}")
    for finding in dmarc_findings(names, lookup):  # type: ignore[arg-type]
        assert finding.status in VERDICTS
