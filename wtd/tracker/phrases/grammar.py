"""The grammar: one rule per phrase, the phrases not carried out yet, and ``parse``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from wtd import vocabulary as v
from wtd.tracker import commands as c
from wtd.tracker.phrases.arguments import (
    INPUT_MAX,
    QUOTES,
    TEXT_MAX,
    ParseError,
    Reject,
    drop_trailing,
    read_evidence,
    read_phase,
    read_status,
    read_subtask_id,
    read_task_id,
    read_text,
    to_int,
    unquote,
)
from wtd.tracker.phrases.templates import suggest

# ------------------------------------------------------------------ grammar

_Build = Callable[[dict[str, str]], c.Command]


_rx = v.compile_phrase  # a literal space matches any run of whitespace


def _missing(what: str, template: str) -> _Build:
    def build(_: dict[str, str]) -> c.Command:
        raise Reject(
            ParseError(
                code="invalid_argument",
                message=f"Missing {what}: '{template}'",
                suggestions=[template],
            )
        )

    return build


def _set_status(verb: str) -> _Build:
    def build(g: dict[str, str]) -> c.Command:
        task_id = read_task_id(g["id"])
        canonical, given = read_status(g["s"])
        return c.SetTaskStatus(task_id=task_id, status=canonical, given=given, verb=verb)

    return build


def _list_tasks(g: dict[str, str]) -> c.Command:
    phase = read_phase(g["n"]) if g.get("n") else None
    status = read_status(g["s"])[0] if g.get("s") else None
    return c.ListTasks(phase=phase, status=status)


def _set_phase_status(g: dict[str, str]) -> c.Command:
    number = read_phase(g["n"])
    canonical, given = read_status(g["s"])
    return c.SetPhaseStatus(number=number, status=canonical, given=given)


def _attach(g: dict[str, str]) -> c.Command:
    kind, text = read_evidence(g["rest"])
    return c.AttachEvidence(task_id=read_task_id(g["id"]), type=kind, text=text)


def _create_initiative(g: dict[str, str]) -> c.Command:
    raw = drop_trailing(g["n"])
    number = to_int(raw) if raw.isdigit() else None
    if number is None or number < 1:
        raise Reject(
            ParseError(
                code="invalid_argument",
                message=f"Invalid initiative number: '{raw}' (expected a positive integer)",
            )
        )
    title = read_text(g["t"], "Initiative title") if g.get("t") else None
    return c.CreateInitiative(number=number, title=title)


_TRACKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def _import_plan(g: dict[str, str]) -> c.Command:
    raw = g["path"].strip()
    path = unquote(raw)
    if path == raw:  # unquoted: a full stop after it ends the sentence, not the name
        path = drop_trailing(path)
    if not path or "\n" in path or "\r" in path or "\x00" in path:
        raise Reject(
            ParseError(
                code="invalid_argument",
                message="Missing plan: 'import plan PATH [as NAME]'",
                suggestions=["import plan PATH [as NAME]"],
            )
        )
    name = None
    if g.get("name"):
        name = drop_trailing(unquote(g["name"]))
        for suffix in (".md", ".json"):
            name = name.removesuffix(suffix)
        if not _TRACKER_NAME.fullmatch(name):
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100] or "plan"
            raise Reject(
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
    number = read_phase(g["n"])
    canonical, given = read_status(g["s"])
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
        raise Reject(
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
    (_rx(r"show task (?P<id>\S+)"), lambda g: c.ShowTask(task_id=read_task_id(g["id"])), False),
    (_rx(r"show phase (?P<n>\S+)"), lambda g: c.ShowPhase(number=read_phase(g["n"])), False),
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
        lambda g: c.ShowHistory(task_id=read_task_id(g["id"]) if g.get("id") else None),
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
        lambda g: c.AddSubtask(
            task_id=read_task_id(g["id"]), name=read_text(g["t"], "Sub-task title")
        ),
        True,
    ),
    (
        _rx(r"(?:check|complete) subtask (?P<id>\S+)"),
        lambda g: c.SetSubtaskChecked(subtask_id=read_subtask_id(g["id"]), checked=True),
        False,
    ),
    (
        _rx(r"uncheck subtask (?P<id>\S+)"),
        lambda g: c.SetSubtaskChecked(subtask_id=read_subtask_id(g["id"]), checked=False),
        False,
    ),
    (
        _rx(r"delete subtask (?P<id>\S+)"),
        lambda g: c.DeleteSubtask(subtask_id=read_subtask_id(g["id"])),
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
            task_id=read_task_id(g["id"]), status="complete", given="complete", verb="mark"
        ),
        False,
    ),
    (
        _rx(r"start task (?P<id>\S+)"),
        lambda g: c.SetTaskStatus(
            task_id=read_task_id(g["id"]), status="in_progress", given="in_progress", verb="mark"
        ),
        False,
    ),
    (
        _rx(r"block task (?P<id>[^\s:]+)(?: because\s*:?|\s*:) (?P<r>.+)"),
        lambda g: c.SetTaskStatus(
            task_id=read_task_id(g["id"]),
            status="blocked",
            given="blocked",
            reason=read_text(g["r"], "Reason", TEXT_MAX),
            verb="mark",
        ),
        True,
    ),
    (
        _rx(r"block task (?P<id>\S+)"),
        lambda g: c.SetTaskStatus(
            task_id=read_task_id(g["id"]), status="blocked", given="blocked", verb="mark"
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
        lambda g: c.AddPhase(name=read_text(g["t"], "Phase name"), number=read_phase(g["n"])),
        True,
    ),
    (_rx(r"add phase (?P<t>.+)"), lambda g: c.AddPhase(name=read_text(g["t"], "Phase name")), True),
    (
        _rx(r"update phase (?P<n>\S+) (?:status(?: to)?|to) (?P<s>.+)"),
        _set_phase_status,
        False,
    ),
    (_rx(r"delete phase (?P<n>\S+)"), lambda g: c.DeletePhase(number=read_phase(g["n"])), False),
    # tasks
    (
        _rx(r"add task to phase (?P<n>[^\s:]+)(?:\s*:\s*| called )(?P<t>.+)"),
        lambda g: c.AddTask(phase=read_phase(g["n"]), name=read_text(g["t"], "Task title")),
        True,
    ),
    (
        _rx(r"rename task (?P<id>\S+) to (?P<t>.+)"),
        lambda g: c.RenameTask(task_id=read_task_id(g["id"]), name=read_text(g["t"], "Task title")),
        True,
    ),
    (
        _rx(r"move task (?P<id>\S+) to phase (?P<n>\S+)"),
        lambda g: c.MoveTask(task_id=read_task_id(g["id"]), phase=read_phase(g["n"])),
        False,
    ),
    (_rx(r"delete task (?P<id>\S+)"), lambda g: c.DeleteTask(task_id=read_task_id(g["id"])), False),
    (
        _rx(r"task (?P<id>\S+) depends on (?:task )?(?P<dep>\S+)"),
        lambda g: c.AddDependency(task_id=read_task_id(g["id"]), depends_on=read_task_id(g["dep"])),
        False,
    ),
    (
        _rx(r"set verification (?:of|for) task (?P<id>\S+) to (?P<t>.+)"),
        lambda g: c.SetVerification(
            task_id=read_task_id(g["id"]), text=read_text(g["t"], "Verification")
        ),
        True,
    ),
    # claims (SPEC §12)
    (
        _rx(r"claim (?:the )?next(?: task)?(?: in phase (?P<n>\S+))?"),
        lambda g: c.ClaimNext(phase=read_phase(g["n"]) if g.get("n") else None),
        False,
    ),
    (
        _rx(r"claim (?:task )?(?P<id>\S+)"),
        lambda g: c.ClaimTask(task_id=read_task_id(g["id"])),
        False,
    ),
    (
        _rx(r"(?:release|unclaim) (?:task )?(?P<id>\S+)"),
        lambda g: c.ReleaseTask(task_id=read_task_id(g["id"])),
        False,
    ),
    (_rx(r"renew (?:my )?claims?"), lambda g: c.RenewClaims(), False),
    (_rx(r"(?:list|show) claims?|claims"), lambda g: c.ListClaims(), False),
    # evidence
    (
        _rx(r"attach evidence to task (?P<id>[^\s:]+)(?:\s*:\s*|\s+)(?P<rest>\S.*)"),
        _attach,
        True,
    ),
    (
        _rx(r"verify evidence (?:for|of|on) task (?P<id>\S+)"),
        lambda g: c.VerifyEvidence(task_id=read_task_id(g["id"])),
        False,
    ),
)

# ----------------------------------------------------------- not available yet
# Phrases of the contract (SPEC §4) that this version does not carry out yet: a clear
# "not available" (exit 2), never "Unknown command … Did you mean 'help'?". Each is
# recognised so the user learns it exists; replace a row with a real rule (above)
# when its command lands. Checked before ``_RULES``.
_NOT_AVAILABLE: Final[tuple[re.Pattern[str], ...]] = ()
_REPL_ONLY: Final = _rx(r"use(?: .+)?")


# ------------------------------------------------------------------ parse


def parse(text: str) -> c.Command | ParseError:
    """The command ``text`` means, or a ParseError saying why not. Never raises."""
    body = text.strip()
    if len(body) >= 2 and QUOTES.get(body[0]) == body[-1] and body[0] in "\"'“":
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
    cleaned = drop_trailing(body)
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
        except Reject as rejected:
            return rejected.error
    return ParseError(
        code="unknown_phrase",
        message=f"Unknown command: '{_shorten(body)}'",
        suggestions=suggest(cleaned) or ["help"],  # nothing close: point at the list
    )


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
