"""One vocabulary (SPEC §7): consent answers, guarded phrases and failpoint names are
defined once and mean the same to the grammar, the consent manager, the daemon's
access checks, the README and the torture runner."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import msgspec
from hypothesis import example, given
from hypothesis import strategies as st

from wtd import vocabulary as v
from wtd.enforcement.consent import ConsentManager, Operation
from wtd.storage import failpoints
from wtd.tracker import commands as c
from wtd.tracker.phrases import parse

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands() -> list[type[c._Cmd]]:
    found: list[type[c._Cmd]] = []
    for cls in vars(c).values():
        if inspect.isclass(cls) and issubclass(cls, c._Cmd) and cls is not c._Cmd:
            found.append(cls)
    return found


def test_every_consent_answer_is_parsed_and_understood_the_same(tmp_path: Path) -> None:
    for text, kind in v.CONSENT_ANSWERS.items():
        parsed = parse(text)
        if kind == "blanket":
            assert parsed == c.GrantBlanket()
        else:
            assert isinstance(parsed, c.ConsentAnswer), text
            assert v.classify_answer(parsed.answer) == kind
    consent = ConsentManager(tmp_path / "state.json", tmp_path / "audit.log")
    for text, kind in v.CONSENT_ANSWERS.items():
        op = Operation.delete_tracker("t")
        grant = consent.grant(consent.request(op).id, text, pending=op)
        assert grant.answer == kind, text
        consent.revoke(None)


def test_the_readme_names_every_answer_and_failpoint() -> None:
    for text in v.CONSENT_ANSWERS:
        assert f"`{text}`" in README, text
    for point in failpoints.POINTS:
        assert f"`{point}`" in README, point
    assert "`show consent`" in README and "`revoke consent [for KIND]`" in README


def test_every_command_declares_its_access() -> None:
    declared = {cls.__name__: cls.access for cls in _commands()}
    assert set(declared.values()) <= {"read", "write", "admin"}
    assert declared["Sync"] == "write"  # sync rewrites files: not a read
    assert declared["ResetCircuit"] == "admin"
    for name in ("ConsentAnswer", "GrantBlanket", "RevokeConsent"):
        assert declared[name] == "admin"
    for name in ("ShowProgress", "ShowHistory", "ShowConsent", "ListTrackers", "ShowHealth"):
        assert declared[name] == "read"
    guarded = {cls.__name__: cls.guarded for cls in _commands() if cls.guarded}
    assert sorted(guarded.values()) == sorted(v.GUARDED_KINDS)


_GUARDED_PATTERNS = [(v.compile_phrase(p), kind) for p, kind in v.GUARDED_PHRASES]


def _space() -> st.SearchStrategy[str]:
    return st.sampled_from([" ", "  ", "\t", " \t "])


def _case(text: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda flips: "".join(ch.upper() if f else ch for ch, f in zip(text, flips, strict=True))
    )


def _words(*parts: str) -> st.SearchStrategy[str]:
    pieces = [_case(p) for p in parts]
    return st.tuples(*pieces, *[_space() for _ in parts]).map(
        lambda t: "".join(w + s for w, s in zip(t[: len(parts)], t[len(parts) :], strict=True))
    )


STATUSES = st.sampled_from(["complete", "done", "pending", "in progress", "WIP", "blocked"])
PHASES = st.integers(min_value=1, max_value=40).map(str)
_TAIL = st.sampled_from(["", ".", "!", "?", " ", " ."])

GUARDED_TEXT = st.one_of(
    st.tuples(
        _words("create", "initiative"), PHASES, st.sampled_from(["", " called X", ": Y z"])
    ).map(lambda t: t[0] + t[1] + t[2]),
    st.tuples(_words("delete"), st.sampled_from(["", "this "]), _case("tracker")).map(
        lambda t: "".join(t)
    ),
    st.tuples(
        _words("mark", "phase"), PHASES, _space(), st.sampled_from(["", "as "]), STATUSES
    ).map(lambda t: "".join(t)),
    st.tuples(_words("mark", "all", "tasks", "in", "phase"), PHASES, _space(), STATUSES).map(
        lambda t: "".join(t)
    ),
)


@given(GUARDED_TEXT, _TAIL, st.sampled_from(["", '"', "'"]))
def test_every_guarded_phrase_is_guarded_by_the_daemon_and_the_hook_patterns(
    text: str, tail: str, quote: str
) -> None:
    phrase = f"{quote}{text}{tail}{quote}"
    parsed = parse(phrase)
    assert not isinstance(parsed, msgspec.Struct) or hasattr(parsed, "access"), parsed
    assert getattr(parsed, "guarded", None) in v.GUARDED_KINDS, (phrase, parsed)
    cleaned = phrase.strip().strip("\"'").strip()
    cleaned = re.sub(r"[\s.?!]+\Z", "", cleaned)
    kinds = {kind for pattern, kind in _GUARDED_PATTERNS if pattern.fullmatch(cleaned)}
    assert getattr(parsed, "guarded", None) in kinds, (phrase, kinds)


# arbitrary text after a guarded phrase's head (arbitrary text alone almost never parses
# as a guarded command, so it would check nothing)
_HEADS = st.sampled_from(
    ["create initiative ", "delete ", "mark phase ", "mark all tasks in phase ", "Mark Phase"]
)
_TAILS = st.tuples(
    st.integers(min_value=0, max_value=40).map(str),
    st.sampled_from([" ", "  ", "\t", ": ", " called "]),
    st.one_of(
        st.sampled_from(["complete", "Done", "WIP", "as pending", "x"]), st.text(max_size=15)
    ),
    st.text(alphabet=" \t.!?\"'", max_size=3),
).map("".join)
NEAR_GUARDED = st.one_of(st.text(max_size=60), st.tuples(_HEADS, _TAILS).map("".join))


@given(NEAR_GUARDED)
@example("CREATE INITIATIVE 1:?")  # "1:" once the hook drops the "?"
@example("create initiative 1 called ?")  # "1 called" once the hook drops the "?"
@example("create initiative 1 called '")  # and its quotes
def test_a_phrase_the_grammar_calls_guarded_is_matched_by_the_patterns(text: str) -> None:
    """The hook may be stricter than the grammar (refuse what would fail anyway), never
    looser: whatever the grammar turns into a guarded command, the patterns match."""
    parsed = parse(text)
    if getattr(parsed, "guarded", None) is None:
        return
    cleaned = re.sub(r"[\s.?!]+\Z", "", text.strip().strip("\"'“”").strip())
    assert any(p.fullmatch(cleaned) for p, _ in _GUARDED_PATTERNS), text


def test_the_torture_runner_injects_the_daemons_failpoints() -> None:
    from tests.torture import runner

    assert runner.POINTS == failpoints.POINTS
