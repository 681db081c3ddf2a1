"""The phrase grammar: text a person or agent types → a command Struct, or a ParseError.

Pure: no I/O, no mutable state. ``parse`` never raises; every failure is a
``ParseError`` whose ``code`` is a wire error code (see ``wtd.errors.EXIT_CODES``):

- ``unknown_phrase``   — nothing matched; ``suggestions`` names the closest templates;
- ``invalid_task_id``  — a task id that is not ``X.Y`` (or a sub-task id not ``X.Y.Z``);
- ``invalid_status``   — a status no spelling of which is known (``suggestions``: nearest);
- ``invalid_argument`` — a phase number, title, evidence type … that is not acceptable;
- ``not_available``    — a phrase of the contract that this version does not implement.

Matching is case-insensitive and forgiving about extra spaces, trailing ``.``/``?``/``!``
and quotes around titles. Titles, reasons and texts are kept as typed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Final

import msgspec

from wtd import vocabulary as v
from wtd.tracker import commands as c
from wtd.tracker import status as st


class ParseError(msgspec.Struct, frozen=True, kw_only=True):
    """Why a phrase was not understood; ``code`` is a wire error code."""

    code: str
    message: str
    suggestions: list[str] = []


PHRASES: Final[tuple[str, ...]] = (
    "show progress",
    "progress",
    "status",
    "what's remaining",
    "show remaining",
    "next",
    "what's next",
    "show task X.Y",
    "show phase N",
    "list tasks [in phase N] [with status S]",
    "mark task X.Y S",
    "mark X.Y S",
    "complete task X.Y",
    "start task X.Y",
    "block task X.Y [because R]",
    "update task X.Y status [to] S",
    "add phase T",
    "add phase N called T",
    "update phase N to S",
    "delete phase N",
    "add task to phase N: T",
    "add task to phase N called T",
    "rename task X.Y to T",
    "move task X.Y to phase N",
    "delete task X.Y",
    "task X.Y depends on A.B",
    "set verification of task X.Y to T",
    "add subtask to task X.Y: T",
    "check subtask X.Y.Z",
    "complete subtask X.Y.Z",
    "uncheck subtask X.Y.Z",
    "delete subtask X.Y.Z",
    'attach evidence to task X.Y: TYPE "text"',
    "verify evidence for task X.Y",
    "sync",
    "sync tracker",
    "regenerate markdown",
    "create initiative N [called T]",
    "import plan PATH [as NAME]",
    "delete tracker",
    "restore tracker [NAME]",
    "mark phase N S",
    "mark all tasks in phase N S",
    "undo",
    "history [task X.Y]",
    "health",
    "show health",
    "reset circuit",
    "show knowledge",
    "yes",
    "approved",
    "always",
    "no",
    v.BLANKET_PHRASE,
    "show consent",
    "revoke consent [for KIND]",
    "list trackers",
    "help [topic]",
)

TITLE_MAX: Final = 200
TEXT_MAX: Final = 4000  # reasons and evidence texts
INPUT_MAX: Final = 10_000

_TASK_ID = re.compile(r"[0-9]+\.[0-9]+")
_SUBTASK_ID = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
_NUMBER = re.compile(r"[+-]?[0-9]+")
# Trailing whitespace and punctuation, matched at the start of the reversed text: a
# search for r"[\s.?!]+\Z" took quadratic time on a long run of spaces inside a phrase.
_TRAILING_REVERSED = re.compile(r"[\s.?!]*")
_QUOTES: Final[dict[str, str]] = {'"': '"', "'": "'", "“": "”", "‘": "’", "`": "`"}
_PLACEHOLDERS: Final[frozenset[str]] = frozenset(
    {"X.Y", "X.Y.Z", "A.B", "N", "S", "T", "R", "TYPE", '"text"', "N:", "X.Y:", "KIND", "PATH"}
)


def _drop_trailing(text: str) -> str:
    """``text`` without its trailing whitespace and ``.?!`` (linear time)."""
    end = _TRAILING_REVERSED.match(text[::-1])
    return text[: len(text) - end.end()] if end is not None else text


def _int(digits: str) -> int | None:
    """``int(digits)``, or None where Python refuses (over 4,300 digits, or "²")."""
    try:
        return int(digits)
    except ValueError:
        return None


class _Reject(Exception):
    """Internal: an argument was refused; carries the ParseError that ``parse`` returns."""

    def __init__(self, error: ParseError) -> None:
        super().__init__(error.message)
        self.error = error


# ------------------------------------------------------------------ arguments


def _task_id(raw: str) -> str:
    if _TASK_ID.fullmatch(raw):
        return raw
    raise _Reject(
        ParseError(
            code="invalid_task_id",
            message=f"Invalid task ID format: '{raw}' (expected X.Y, e.g. 2.1)",
        )
    )


def _subtask_id(raw: str) -> str:
    if _SUBTASK_ID.fullmatch(raw):
        return raw
    raise _Reject(
        ParseError(
            code="invalid_task_id",
            message=f"Invalid sub-task ID format: '{raw}' (expected X.Y.Z, e.g. 2.1.3)",
        )
    )


def _phase(raw: str) -> int:
    number = _int(raw) if _NUMBER.fullmatch(raw) else None
    if number is not None and number > 0:
        return number
    raise _Reject(
        ParseError(
            code="invalid_argument",
            message=f"Invalid phase number: '{raw}' (expected a positive integer, e.g. 2)",
        )
    )


def _status(raw: str) -> tuple[str, str]:
    """(canonical, given) for a typed status; given is stripped of trailing punctuation."""
    given = _drop_trailing(raw).strip()
    canonical = st.normalize(given)
    if canonical is not None:
        return canonical, given
    raise _Reject(
        ParseError(
            code="invalid_status",
            message=f"Invalid status '{given}' (expected one of: {', '.join(st.STATUSES)})",
            suggestions=st.suggest(given),
        )
    )


def _unquote(raw: str) -> str:
    text = raw.strip()
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return text


def _text(raw: str, what: str, limit: int = TITLE_MAX, *, newlines: bool = False) -> str:
    text = _unquote(raw)
    if not text:
        problem = f"{what} must not be empty"
    elif len(text) > limit:
        problem = f"{what} is too long ({len(text)} characters, at most {limit})"
    elif not newlines and ("\n" in text or "\r" in text):
        problem = f"{what} must be on one line"
    else:
        return text
    raise _Reject(ParseError(code="invalid_argument", message=problem))


def _evidence(raw: str) -> tuple[str, str]:
    """Split ``TYPE "text"`` (TYPE in any spelling: manual note, manual-note …)."""
    words = raw.strip().split(None, 2)
    for width in (2, 1):
        if len(words) < width:
            continue
        key = "_".join(words[:width]).replace("-", "_").rstrip(":").lower()
        if key in c.EVIDENCE_TYPES:
            rest = raw.strip().split(None, width)
            body = rest[width] if len(rest) > width else ""
            return key, _text(body.lstrip(":"), "Evidence text", TEXT_MAX, newlines=True)
    typed = words[0].rstrip(":") if words else ""
    near = difflib.get_close_matches(
        typed.replace("-", "_").lower(), c.EVIDENCE_TYPES, n=3, cutoff=0.5
    )
    raise _Reject(
        ParseError(
            code="invalid_argument",
            message=(
                f"Invalid evidence type '{typed}' (expected one of: {', '.join(c.EVIDENCE_TYPES)})"
            ),
            suggestions=near,
        )
    )


# ------------------------------------------------------------------ grammar

_Build = Callable[[dict[str, str]], c.Command]


_rx = v.compile_phrase  # a literal space matches any run of whitespace


def _missing(what: str, template: str) -> _Build:
    def build(_: dict[str, str]) -> c.Command:
        raise _Reject(
            ParseError(
                code="invalid_argument",
                message=f"Missing {what}: '{template}'",
                suggestions=[template],
            )
        )

    return build


def _set_status(verb: str) -> _Build:
    def build(g: dict[str, str]) -> c.Command:
        task_id = _task_id(g["id"])
        canonical, given = _status(g["s"])
        return c.SetTaskStatus(task_id=task_id, status=canonical, given=given, verb=verb)

    return build


def _list_tasks(g: dict[str, str]) -> c.Command:
    phase = _phase(g["n"]) if g.get("n") else None
    status = _status(g["s"])[0] if g.get("s") else None
    return c.ListTasks(phase=phase, status=status)


def _set_phase_status(g: dict[str, str]) -> c.Command:
    number = _phase(g["n"])
    canonical, given = _status(g["s"])
    return c.SetPhaseStatus(number=number, status=canonical, given=given)


def _attach(g: dict[str, str]) -> c.Command:
    kind, text = _evidence(g["rest"])
    return c.AttachEvidence(task_id=_task_id(g["id"]), type=kind, text=text)


def _create_initiative(g: dict[str, str]) -> c.Command:
    raw = _drop_trailing(g["n"])
    number = _int(raw) if raw.isdigit() else None
    if number is None or number < 1:
        raise _Reject(
            ParseError(
                code="invalid_argument",
                message=f"Invalid initiative number: '{raw}' (expected a positive integer)",
            )
        )
    title = _text(g["t"], "Initiative title") if g.get("t") else None
    return c.CreateInitiative(number=number, title=title)


_TRACKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def _import_plan(g: dict[str, str]) -> c.Command:
    raw = g["path"].strip()
    path = _unquote(raw)
    if path == raw:  # unquoted: a full stop after it ends the sentence, not the name
        path = _drop_trailing(path)
    if not path or "\n" in path or "\r" in path or "\x00" in path:
        raise _Reject(
            ParseError(
                code="invalid_argument",
                message="Missing plan: 'import plan PATH [as NAME]'",
                suggestions=["import plan PATH [as NAME]"],
            )
        )
    name = None
    if g.get("name"):
        name = _drop_trailing(_unquote(g["name"]))
        for suffix in (".md", ".json"):
            name = name.removesuffix(suffix)
        if not _TRACKER_NAME.fullmatch(name):
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100] or "plan"
            raise _Reject(
                ParseError(
                    code="invalid_argument",
                    message=(
                        f"Invalid tracker name: '{name}' (letters, digits, '-' and '_', "
                        "at most 100; it names .ecw/plans/NAME.json and docs/plans/NAME.md)"
                    ),
                    suggestions=[f"import plan {g['path'].strip()} as {slug}"],
                )
            )
    return c.ImportPlan(path=path, name=name)


def _phase_tasks(g: dict[str, str]) -> c.Command:
    number = _phase(g["n"])
    canonical, given = _status(g["s"])
    return c.SetPhaseTasks(number=number, status=canonical, given=given)


def _revoke_consent(g: dict[str, str]) -> c.Command:
    named = g.get("k")
    if named is None:
        return c.RevokeConsent()
    key = " ".join(named.lower().replace("-", " ").replace("_", " ").split())
    if key in v.REVOKE_ALL:
        return c.RevokeConsent()
    kind = v.KIND_NAMES.get(key) or v.KIND_NAMES.get(key.removesuffix(" operations"))
    if kind is None:
        raise _Reject(
            ParseError(
                code="invalid_argument",
                message=f"Unknown kind of operation: '{named}'",
                suggestions=[f"revoke consent for {k.replace('_', ' ')}" for k in v.GUARDED_KINDS],
            )
        )
    return c.RevokeConsent(kind=kind)


def _help(g: dict[str, str]) -> c.Command:
    topic = " ".join((g.get("topic") or "").split()).lower()
    return c.Help(topic=topic or None)


_WHATS = r"what(?:'s|’s|s| is)"

# Each rule: (pattern, builder, free_text). A free-text rule ends in a title or text
# kept as typed, so it is matched against the input before trailing punctuation is
# dropped; the others are matched against the cleaned input. First match wins.
_RULES: Final[tuple[tuple[re.Pattern[str], _Build, bool], ...]] = (
    # queries
    (_rx(r"(?:show )?progress|status"), lambda g: c.ShowProgress(), False),
    (_rx(_WHATS + r" remaining|show remaining|remaining"), lambda g: c.ShowRemaining(), False),
    (_rx(r"(?:" + _WHATS + r" )?next"), lambda g: c.ShowNext(), False),
    (_rx(r"show task (?P<id>\S+)"), lambda g: c.ShowTask(task_id=_task_id(g["id"])), False),
    (_rx(r"show phase (?P<n>\S+)"), lambda g: c.ShowPhase(number=_phase(g["n"])), False),
    # "… (?P<s>.+?) in phase (?P<n>\S+)" took cubic time on a run of spaces (seconds at a
    # few thousand); these two match the same, in linear time: the status ends after a
    # non-space (?<=\S), or, when it is only space (status   in phase 2), it is the
    # last-but-one space of the run, as the backtracking regex found.
    (
        _rx(r"list tasks with status\s++(?P<s>.+?)(?<=\S)\s++in\s++phase\s++(?P<n>\S++)"),
        _list_tasks,
        False,
    ),
    (
        _rx(r"list tasks with status(?:\s(?=\s\s))++(?P<s>\s)\sin\s++phase\s++(?P<n>\S++)"),
        _list_tasks,
        False,
    ),
    (
        _rx(r"list tasks(?: in phase (?P<n>\S+))?(?: with status (?P<s>.+))?"),
        _list_tasks,
        False,
    ),
    # guarded operations and consent (SPEC §7): the patterns live in wtd.vocabulary,
    # which the consent manager and the Claude Code hook read too
    (_rx(v.CREATE_INITIATIVE), _create_initiative, True),
    (_rx(v.DELETE_TRACKER), lambda g: c.DeleteTracker(), False),
    (
        _rx(v.RESTORE_TRACKER),
        lambda g: c.RestoreTracker(name=g.get("name")),
        False,
    ),
    (
        _rx(r"import plan (?P<path>.+?)(?: as (?P<name>\"[^\"]*\"|'[^']*'|\S+))?"),
        _import_plan,
        True,
    ),
    (_rx(r"import plan"), _missing("plan", "import plan PATH [as NAME]"), False),
    (_rx(v.MARK_ALL_TASKS), _phase_tasks, False),
    (_rx(v.MARK_PHASE), _phase_tasks, False),
    (_rx(v.CONSENT_ANSWER), lambda g: c.ConsentAnswer(answer=g["a"].lower()), False),
    (_rx(v.GRANT_BLANKET), lambda g: c.GrantBlanket(), False),
    (_rx(v.SHOW_CONSENT), lambda g: c.ShowConsent(), False),
    (_rx(v.REVOKE_CONSENT), _revoke_consent, False),
    (_rx(v.UNDO), lambda g: c.Undo(), False),
    (
        _rx(r"(?:show )?history(?: (?:of |for )?task (?P<id>\S+))?"),
        lambda g: c.ShowHistory(task_id=_task_id(g["id"]) if g.get("id") else None),
        False,
    ),
    (_rx(r"(?:show )?health"), lambda g: c.ShowHealth(), False),
    (_rx(r"reset (?:the )?circuits?(?: breakers?)?"), lambda g: c.ResetCircuit(), False),
    (_rx(r"show knowledge(?: base)?|knowledge"), lambda g: c.ShowKnowledge(), False),
    (_rx(r"list trackers"), lambda g: c.ListTrackers(), False),
    (_rx(r"help(?: (?P<topic>.+))?"), _help, False),
    (_rx(r"sync(?: tracker)?|regenerate markdown"), lambda g: c.Sync(), False),
    # sub-tasks (before "complete task" / "delete task" so "subtask" is not an id)
    (
        _rx(r"add subtask to task (?P<id>[^\s:]+)(?:\s*:\s*| called )(?P<t>.+)"),
        lambda g: c.AddSubtask(task_id=_task_id(g["id"]), name=_text(g["t"], "Sub-task title")),
        True,
    ),
    (
        _rx(r"(?:check|complete) subtask (?P<id>\S+)"),
        lambda g: c.SetSubtaskChecked(subtask_id=_subtask_id(g["id"]), checked=True),
        False,
    ),
    (
        _rx(r"uncheck subtask (?P<id>\S+)"),
        lambda g: c.SetSubtaskChecked(subtask_id=_subtask_id(g["id"]), checked=False),
        False,
    ),
    (
        _rx(r"delete subtask (?P<id>\S+)"),
        lambda g: c.DeleteSubtask(subtask_id=_subtask_id(g["id"])),
        False,
    ),
    # task status
    (
        _rx(r"mark (?:task )?(?!task\b|phase\b|all\b)(?P<id>\S+) (?:as )?(?P<s>.+)"),
        _set_status("mark"),
        False,
    ),
    (_rx(r"mark (?:task )?(?!phase\b|all\b)\S+"), _missing("status", "mark task X.Y S"), False),
    (
        _rx(r"complete task (?P<id>\S+)"),
        lambda g: c.SetTaskStatus(
            task_id=_task_id(g["id"]), status="complete", given="complete", verb="mark"
        ),
        False,
    ),
    (
        _rx(r"start task (?P<id>\S+)"),
        lambda g: c.SetTaskStatus(
            task_id=_task_id(g["id"]), status="in_progress", given="in_progress", verb="mark"
        ),
        False,
    ),
    (
        _rx(r"block task (?P<id>[^\s:]+)(?: because\s*:?|\s*:) (?P<r>.+)"),
        lambda g: c.SetTaskStatus(
            task_id=_task_id(g["id"]),
            status="blocked",
            given="blocked",
            reason=_text(g["r"], "Reason", TEXT_MAX),
            verb="mark",
        ),
        True,
    ),
    (
        _rx(r"block task (?P<id>\S+)"),
        lambda g: c.SetTaskStatus(
            task_id=_task_id(g["id"]), status="blocked", given="blocked", verb="mark"
        ),
        False,
    ),
    (
        _rx(r"update task (?P<id>\S+) (?:status(?: to)?|to) (?P<s>.+)"),
        _set_status("update"),
        False,
    ),
    # phases
    (
        _rx(r"add phase (?P<n>[+-]?[0-9]+) called (?P<t>.+)"),
        lambda g: c.AddPhase(name=_text(g["t"], "Phase name"), number=_phase(g["n"])),
        True,
    ),
    (_rx(r"add phase (?P<t>.+)"), lambda g: c.AddPhase(name=_text(g["t"], "Phase name")), True),
    (
        _rx(r"update phase (?P<n>\S+) (?:status(?: to)?|to) (?P<s>.+)"),
        _set_phase_status,
        False,
    ),
    (_rx(r"delete phase (?P<n>\S+)"), lambda g: c.DeletePhase(number=_phase(g["n"])), False),
    # tasks
    (
        _rx(r"add task to phase (?P<n>[^\s:]+)(?:\s*:\s*| called )(?P<t>.+)"),
        lambda g: c.AddTask(phase=_phase(g["n"]), name=_text(g["t"], "Task title")),
        True,
    ),
    (
        _rx(r"rename task (?P<id>\S+) to (?P<t>.+)"),
        lambda g: c.RenameTask(task_id=_task_id(g["id"]), name=_text(g["t"], "Task title")),
        True,
    ),
    (
        _rx(r"move task (?P<id>\S+) to phase (?P<n>\S+)"),
        lambda g: c.MoveTask(task_id=_task_id(g["id"]), phase=_phase(g["n"])),
        False,
    ),
    (_rx(r"delete task (?P<id>\S+)"), lambda g: c.DeleteTask(task_id=_task_id(g["id"])), False),
    (
        _rx(r"task (?P<id>\S+) depends on (?:task )?(?P<dep>\S+)"),
        lambda g: c.AddDependency(task_id=_task_id(g["id"]), depends_on=_task_id(g["dep"])),
        False,
    ),
    (
        _rx(r"set verification (?:of|for) task (?P<id>\S+) to (?P<t>.+)"),
        lambda g: c.SetVerification(task_id=_task_id(g["id"]), text=_text(g["t"], "Verification")),
        True,
    ),
    # evidence
    (
        _rx(r"attach evidence to task (?P<id>[^\s:]+)(?:\s*:\s*|\s+)(?P<rest>\S.*)"),
        _attach,
        True,
    ),
    (
        _rx(r"verify evidence (?:for|of|on) task (?P<id>\S+)"),
        lambda g: c.VerifyEvidence(task_id=_task_id(g["id"])),
        False,
    ),
)

# ----------------------------------------------------------- not available yet
# Phrases of the contract (SPEC §4, §7) that later work implements. Each is
# recognised so the user learns it exists but is not in this version; replace a row
# with a real rule (above) when its command lands. Checked before ``_RULES``.
# Phrases of the contract (SPEC §4) that this version does not carry out yet: a clear
# "not available" (exit 2), never "Unknown command … Did you mean 'help'?".
_NOT_AVAILABLE: Final[tuple[re.Pattern[str], ...]] = tuple(
    _rx(p)
    for p in (
        r"claim (?:next|task .+)(?: in phase .+)?",
        r"release task .+",
        r"renew claims?",
        r"list claims?",
    )
)
_REPL_ONLY: Final = _rx(r"use(?: .+)?")


# ------------------------------------------------------------------ parse


def parse(text: str) -> c.Command | ParseError:
    """The command ``text`` means, or a ParseError saying why not. Never raises."""
    body = text.strip()
    if len(body) >= 2 and _QUOTES.get(body[0]) == body[-1] and body[0] in "\"'“":
        body = body[1:-1].strip()
    if not body:
        return ParseError(
            code="unknown_phrase",
            message="Empty command: type 'help' to see the phrases",
            suggestions=["help"],
        )
    if len(body) > INPUT_MAX:
        return ParseError(
            code="invalid_argument",
            message=f"Command too long ({len(body)} characters, at most {INPUT_MAX})",
        )
    cleaned = _drop_trailing(body)
    if not cleaned:  # "?" alone
        return c.Help()
    if _REPL_ONLY.fullmatch(cleaned):
        return ParseError(
            code="invalid_argument",
            message=(
                "'use TRACKER' switches the REPL's tracker; one-shot, name it with "
                "--tracker TRACKER (or $WT_TRACKER)"
            ),
            suggestions=["--tracker TRACKER"],
        )
    for pattern in _NOT_AVAILABLE:
        if pattern.fullmatch(cleaned):
            shown = " ".join(cleaned.split())
            return ParseError(
                code="not_available",
                message=f"'{shown}' is not available in this version of wtd",
            )
    for pattern, build, free_text in _RULES:
        match = pattern.fullmatch(body if free_text else cleaned)
        if match is None:
            continue
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        try:
            return build(groups)
        except _Reject as rejected:
            return rejected.error
    return ParseError(
        code="unknown_phrase",
        message=f"Unknown command: '{_shorten(body)}'",
        suggestions=suggest(cleaned) or ["help"],  # nothing close: point at the list
    )


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _head(template: str) -> str:
    """The literal words of a template before its first placeholder."""
    words: list[str] = []
    for word in template.split():
        if word in _PLACEHOLDERS or word.startswith("["):
            break
        words.append(word.rstrip(":"))
    return " ".join(words)


_TEMPLATES: Final[tuple[tuple[str, str, str], ...]] = tuple(
    (t, re.sub(r"\s*\[[^\]]*\]", "", t).lower(), _head(t).lower()) for t in PHRASES
)


_CUTOFF: Final = 0.6


def _ratio(a: str, b: str) -> float:
    """difflib's similarity, skipping the full comparison when it cannot reach the cutoff."""
    matcher = difflib.SequenceMatcher(None, a, b)
    if matcher.real_quick_ratio() < _CUTOFF or matcher.quick_ratio() < _CUTOFF:
        return 0.0
    return matcher.ratio()


def suggest(text: str, limit: int = 3) -> list[str]:
    """The phrase templates closest to ``text`` (a typo, a half-remembered phrase)."""
    words = " ".join(text.lower().split()[:8])[:120]
    scored: list[tuple[float, int, str]] = []
    for index, (template, bare, head) in enumerate(_TEMPLATES):
        score = _ratio(words, bare)
        if head:
            prefix = " ".join(words.split()[: len(head.split())])
            score = max(score, _ratio(prefix, head))
        if score >= _CUTOFF:
            scored.append((-score, index, template))
    scored.sort()
    return [template for _, _, template in scored[:limit]]
