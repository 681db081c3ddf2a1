"""The Markdown view of a tracker (ECW Full layout). Pure: no I/O, no clock.

``render(tracker, name=..., checksum=...)`` is deterministic: the same inputs give
the same string, byte for byte. Progress figures are always derived from task
statuses, never read from the stored ``progress`` fields.

Every piece of free text (title, names, verifications, IDs, descriptions) is written
with ``escape_cell``, a reversible escape that keeps a value on one line and inside
its table cell; ``unescape_cell`` is its inverse and is what a parser of the view
uses on any such text (table cells, headings, sub-task lines, description lines):

- ``\\`` → ``\\\\``, ``|`` → ``\\|``, ``<`` → ``\\<``, ``&`` → ``\\&``
- newline → ``<br>``; other line-breaking and control characters (C0, DEL, C1,
  U+2028, U+2029) → ``&#N;``
- whitespace at either end → ``&#N;`` (so a cell never starts or ends with spaces)

All of these are CommonMark escapes or entities, so GitHub shows the original text.
``unescape_cell`` is lenient with hand edits: any CommonMark backslash escape, any
``<br>`` spelling and any HTML entity are decoded; other text is kept as typed.

Layout (blank lines elided)::

    # Work Tracker: <title>
    > **Initiative:** … / **Status:** … / **Progress:** … / **Created:** … /
    > **Updated:** … / **Source:** …           (absent meta fields are omitted)
    ---
    ## Phases
    ### Phase N: <name>
    > **Status:** <icon> <Label>
    > **Progress:** P% (C/T tasks)
    <description>                               (only when present)
    #### Tasks
    | ID | Task | Status | Verification |      (or ``_No tasks yet._``)
    **Dependencies:** 2.2 → 2.1; 2.3 → 2.2      (only when a task has some)
    #### Sub-tasks                              (only when a task has some)
    - [x] 2.2.1: <name>
    #### Notes                                  (the phase's, its tasks', their sub-tasks')
    - **Phase 2**                               (an item per holder of notes)
      <a note line>                             (each line indented two spaces)
    - **2.2**
    - **2.2.1**
    ### Phase N: (unlisted)                     (tasks whose phase is not listed)
    ### Sub-tasks of missing tasks              (sub-tasks whose task is not listed)
    ---
    ## Notes                                    (only when the tracker has notes)
    <the tracker's notes, line by line>
    ## Progress Summary
    ## Recovery Checksum

An empty Verification cell means the task has no verification.

Notes (the ``notes`` field of a phase, a task, a sub-task or the tracker, see
``model.NOTES``) are written as the person wrote them, Markdown and all, so they
render on GitHub as written: a list stays a list, a legend table a table. Only a
line that would break the layout is escaped (``escape_note``): one with a line
break or control character in it, one that starts with ``\\`` (the escape's own
mark), one that would end the Notes section (``ends_notes``), and one opening a code
fence or HTML block that nothing closes (it would swallow the rest of the view).
Trailing whitespace, and "" (paragraph breaks) at either end, are not shown
(``note_lines``).
"""

from __future__ import annotations

import html.entities
import re
from collections.abc import Sequence
from itertools import chain, groupby, repeat
from operator import attrgetter
from typing import Final, NamedTuple

from msgspec import UNSET, UnsetType

from wtd.tracker import status as st
from wtd.tracker.model import NOTES, Subtask, Task, Tracker, same_objects

__all__ = [
    "NOTES_HEADING",
    "PHASE_HEADING",
    "SUMMARY_HEADER",
    "TASK_HEADER",
    "TASK_NOTES_HEADING",
    "UNLISTED",
    "Renderer",
    "ends_notes",
    "escape_cell",
    "escape_note",
    "heading",
    "note_key",
    "note_lines",
    "render",
    "unescape_cell",
    "unescape_note",
]

TASK_HEADER: Final = "| ID | Task | Status | Verification |"
_TASK_RULE: Final = "|----|------|--------|--------------|"
_TASK_HEADER_B: Final = TASK_HEADER.encode()
_TASK_RULE_B: Final = _TASK_RULE.encode()
SUMMARY_HEADER: Final = "| Phase | Name | Status | Progress | Complete |"
_SUMMARY_RULE: Final = "|-------|------|--------|----------|----------|"
# The name shown for a phase number that tasks use but the phase list lacks.
UNLISTED: Final = "(unlisted)"
_UNLISTED_NOTE: Final = "> **Note:** this phase is not in the tracker's phase list"
NOTES_HEADING: Final = "## Notes"
TASK_NOTES_HEADING: Final = "#### Notes"
PHASE_HEADING: Final = re.compile(r"Phase[ \t]+(-?\d+)[ \t]*(?::[ \t]*(.*))?$", re.IGNORECASE)
"""The text of a phase's heading (``Phase N: name``), after the ``#`` marks."""

# ------------------------------------------------------------------ escaping

# Characters that would end a line (str.splitlines) or that Markdown cannot show.
_CONTROL: Final = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x2028,
    0x2029,
]
_ESCAPES: Final[dict[int, str]] = {c: f"&#{c};" for c in _CONTROL}
_ESCAPES.update(
    {
        ord("\n"): "<br>",
        ord("\\"): "\\\\",
        ord("|"): "\\|",
        ord("<"): "\\<",
        ord("&"): "\\&",
    }
)


def _entity(ch: str) -> str:
    return f"&#{ord(ch)};"


def escape_cell(text: str) -> str:
    """Escape ``text`` for a table cell (or any single-line Markdown context).

    Reversible: ``unescape_cell(escape_cell(s)) == s`` for every string ``s``.
    The result has no line breaks, no unescaped ``|``, and no whitespace at its ends.
    """
    # Fast path: nearly every name is plain text. isprintable() is False for every
    # control and whitespace character except the ASCII space.
    if (
        text.isprintable()
        and "\\" not in text
        and "|" not in text
        and "<" not in text
        and "&" not in text
        and text[:1] != " "
        and text[-1:] != " "
    ):
        return text
    out = text.translate(_ESCAPES)
    if out[:1].isspace() or out[-1:].isspace():
        start = 0
        end = len(out)
        while start < end and out[start].isspace():
            start += 1
        while end > start and out[end - 1].isspace():
            end -= 1
        out = "".join(map(_entity, out[:start])) + out[start:end] + "".join(map(_entity, out[end:]))
    return out


_UNESCAPE_RE: Final = re.compile(
    r"\\([!-/:-@\[-`{-~])"  # a CommonMark backslash escape of ASCII punctuation
    r"|(<br\s*/?>)"  # a line break, in any usual spelling
    r"|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});",  # an entity
    re.IGNORECASE,
)


def _unescape_match(match: re.Match[str]) -> str:
    punct, br, entity = match.groups()
    if punct is not None:
        return punct
    if br is not None:
        return "\n"
    if entity[0] == "#":
        code = int(entity[2:], 16) if entity[1] in "xX" else int(entity[1:])
        return chr(code) if code <= 0x10FFFF else match.group(0)
    return html.entities.html5.get(entity + ";", match.group(0))


def unescape_cell(text: str) -> str:
    """The inverse of ``escape_cell``: the value a rendered cell (or line) stands for.

    Surrounding spaces and tabs are dropped, as GitHub drops them around a cell.
    """
    text = text.strip(" \t")
    if "\\" not in text and "<" not in text and "&" not in text:
        return text
    return _UNESCAPE_RE.sub(_unescape_match, text)


def _escape_heading(text: str) -> str:
    # A trailing run of '#' would be read as the heading's closing sequence.
    out = escape_cell(text)
    return out[:-1] + "\\#" if out.endswith("#") else out


_BLOCK_START: Final = frozenset("#>-+*=_`~:|")


def _escape_paragraph(text: str) -> str:
    # A description is one paragraph line; keep it from starting a heading, quote,
    # list, rule or fence (the backslash is a CommonMark escape, so unescape_cell
    # removes it and GitHub does not show it).
    out = escape_cell(text)
    if out[:1] in _BLOCK_START:
        return "\\" + out
    digits = len(out) - len(out.lstrip("0123456789"))
    if 0 < digits < len(out) and out[digits] in ".)":
        return out[:digits] + "\\" + out[digits:]
    return out


def heading(line: str) -> tuple[int, str] | None:
    r"""(level, text) of an ATX heading line (``## Text ##``), or None.

    Exactly what the regex ``(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`` matched, in
    linear time: that regex took quadratic time on a long run of spaces (a ``#`` line
    with 16,000 spaces took 8 s) and held the GIL all along. ``line`` has no newline.
    """
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    rest = line[level:]
    if not rest:
        return level, ""
    if rest[0] != " " and rest[0] != "\t":
        return None  # "#5" is not a heading
    text = rest.lstrip(" \t").rstrip(" \t")
    unclosed = text.rstrip("#")  # an optional closing sequence, after a space or tab
    if len(unclosed) < len(text) and unclosed[-1:] in (" ", "\t"):
        text = unclosed.rstrip(" \t")
    return level, text


# ------------------------------------------------------------------ notes

# Characters that break a line for some reader (str.splitlines) or that Markdown cannot
# show: a note line holding one is escaped. A tab is kept (indentation).
_NOTE_BREAKS: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_LAYOUT_SECTIONS: Final = frozenset({"phases", "notes", "progress summary", "recovery checksum"})


def note_lines(value: object) -> tuple[str, ...]:
    """The lines a view shows of a ``notes`` field: each without trailing whitespace
    ("" when nothing is left: a paragraph break), no paragraph break at either end;
    () when there are none or the field is not a list of strings."""
    if not isinstance(value, list) or not value:
        return ()
    lines: list[str] = []
    for line in value:
        if not isinstance(line, str):
            return ()
        lines.append(line.rstrip())
    start, end = 0, len(lines)
    while start < end and not lines[start]:
        start += 1
    while end > start and not lines[end - 1]:
        end -= 1
    return tuple(lines[start:end])


def ends_notes(line: str) -> bool:
    """Does ``line`` (of the tracker's Notes section) end the section? A heading of the
    layout does: ``## Phases``, ``## Notes``, ``## Progress Summary``, ``## Recovery
    Checksum``, a phase heading, ``### Sub-tasks of missing tasks``."""
    stripped = line.lstrip()
    if stripped[:1] != "#":
        return False
    found = heading(stripped)
    if found is None:
        return False
    level, text = found
    label = text.strip().lower()
    return (
        (level <= 2 and label in _LAYOUT_SECTIONS)
        or label == "sub-tasks of missing tasks"
        or PHASE_HEADING.match(text) is not None
    )


def escape_note(line: str) -> str:
    """``line`` as a view writes a note line that cannot stand as it is: ``\\`` then
    ``escape_cell(line)`` (on GitHub: a backslash, then the text)."""
    return "\\" + escape_cell(line)


def unescape_note(line: str) -> str:
    """The note a line of the view stands for (the inverse of ``escape_note`` on an
    escaped line; any other line is the note itself)."""
    return unescape_cell(line[1:]) if line[:1] == "\\" else line


def _plain_note(line: str) -> bool:
    return line[:1] != "\\" and _NOTE_BREAKS.search(line) is None


def note_key(number: int) -> str:
    """How a phase's own item of its Notes block is named (tasks' and sub-tasks' items
    are named by their IDs)."""
    return f"Phase {number}"


def _note_item(key: str, notes: tuple[str, ...]) -> list[str]:
    out = [f"- **{key}**"]
    for line in notes:
        if not line:
            out.append("")
        else:
            out.append("  " + (line if _plain_note(line) else escape_note(line)))
    return out


# A code fence opener (CommonMark: up to three spaces, three or more ` or ~; a ` fence's
# info string has no `) and closer (the same character, at least as many, nothing after).
_FENCE: Final = re.compile(r" {0,3}(`{3,}+(?!.*`)|~{3,})")
_FENCE_CLOSE: Final = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
# HTML blocks that run until an end marker, however many blank lines (CommonMark 1-5).
_HTML_BLOCKS: Final = (
    (
        re.compile(r" {0,3}<(?:script|pre|style|textarea)(?:[ \t>]|$)", re.IGNORECASE),
        re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE),
    ),
    (re.compile(r" {0,3}<!--"), re.compile(r"-->")),
    (re.compile(r" {0,3}<\?"), re.compile(r"\?>")),
    (re.compile(r" {0,3}<![A-Za-z]"), re.compile(r">")),
    (re.compile(r" {0,3}<!\[CDATA\["), re.compile(r"\]\]>")),
)


def _unclosed(lines: list[str]) -> set[int]:
    """The indexes of the lines (as they will be written) that open a code fence or an
    HTML block which no later line closes: on GitHub it would run to the end of the
    view. Linear: for each kind of end, where the last one is, is known up front."""
    count = len(lines)
    closers: dict[str, list[int]] = {"`": [0] * (count + 1), "~": [0] * (count + 1)}
    for i in range(count - 1, -1, -1):  # the longest closing fence after line i
        for best in closers.values():
            best[i] = best[i + 1]
        m = _FENCE_CLOSE.fullmatch(lines[i])
        if m is not None:
            best = closers[m.group(1)[0]]
            best[i] = max(best[i], len(m.group(1)))
    last_end = [-1] * len(_HTML_BLOCKS)
    for i, line in enumerate(lines):
        for k, (_, end) in enumerate(_HTML_BLOCKS):
            if end.search(line):
                last_end[k] = i
    out: set[int] = set()
    i = 0
    while i < count:
        line = lines[i]
        fence = _FENCE.match(line)
        if fence is not None:
            marks = fence.group(1)
            char, length = marks[0], len(marks)
            if closers[char][i + 1] < length:
                out.add(i)
                i += 1
                continue
            i += 1
            while i < count:  # inside the fence, up to its closer
                m = _FENCE_CLOSE.fullmatch(lines[i])
                i += 1
                if m is not None and m.group(1)[0] == char and len(m.group(1)) >= length:
                    break
            continue
        for k, (start, end) in enumerate(_HTML_BLOCKS):
            if start.match(line) is None:
                continue
            if end.search(line):
                break  # closed on its own line
            if last_end[k] <= i:
                out.add(i)
                break
            i += 1
            while end.search(lines[i]) is None:  # inside the block, up to its end
                i += 1
            break
        i += 1
    return out


def _plan_notes(notes: tuple[str, ...]) -> list[str]:
    written = [
        line if not line or (_plain_note(line) and not ends_notes(line)) else escape_note(line)
        for line in notes
    ]
    for i in _unclosed(written):
        written[i] = escape_note(notes[i])
    return written


def _title_case(text: str) -> str:
    words = text.replace("_", " ").replace("-", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words)


def _percent(complete: int, counted: int) -> int:
    # Same law as model.overall_progress / model.phase_progress.
    return round(100 * complete / counted) if counted else 0


# ------------------------------------------------------------------ rendering

# Tasks per cached chunk of a phase's table (see Renderer).
_CHUNK: Final = 256
_NO_SUBS: Final[list[Subtask]] = []
_PHASE_OF: Final = attrgetter("phase")  # a C-level key for groupby


class _Chunk(NamedTuple):
    """Up to _CHUNK consecutive tasks of one phase, rendered."""

    tasks: list[Task]
    subs: list[Subtask]  # the sub-tasks of these tasks, in order
    rows: bytes  # the table rows, joined with newlines (UTF-8, like all below)
    deps: bytes  # "2.2 → 2.1; 2.3 → 2.2" for these tasks (b"" when none has any)
    sublines: bytes  # the "- [x] 2.2.1: name" lines, joined with newlines
    notes: bytes  # the "- **2.2**" items of these tasks' (and sub-tasks') notes
    complete: int
    counted: int


def render(tracker: Tracker, *, name: str, checksum: str) -> str:
    """The Markdown view of ``tracker``.

    ``name`` is the tracker's name (file stem); ``checksum`` is the digest of the
    JSON bytes the caller wrote, shown verbatim under Recovery Checksum.
    """
    return Renderer().render(tracker, name=name, checksum=checksum).decode()


class Renderer:
    """``render`` (as UTF-8) with a cache of each phase's table, in chunks of tasks.

    Tasks are immutable and unchanged ones are shared between a tracker and the next
    version, so a change renders again only the chunk holding the task it touched
    (the same objects in the same order: a C-speed check). The output
    is ``render(...)`` byte for byte. One Renderer per tracker (the Store's).

    It writes UTF-8 bytes piece by piece: a Python string holding the whole view
    would be four bytes per character (the status icons are outside the BMP).
    """

    def __init__(self) -> None:
        self._chunks: dict[int, list[_Chunk]] = {}

    def render(self, tracker: Tracker, *, name: str, checksum: str) -> bytes:
        out: list[bytes] = []

        def add(line: str) -> None:
            out.append(line.encode())

        meta = tracker.meta
        tasks = tracker.tasks
        subtasks = tracker.all_subtasks()

        # Tasks by phase number (runs of one phase are moved in C), sub-tasks by task id.
        by_phase: dict[int, list[Task]] = {}
        for number, run in groupby(tasks, key=_PHASE_OF):
            group = by_phase.get(number)
            if group is None:
                by_phase[number] = list(run)
            else:
                group.extend(run)
        subs_by_task: dict[str, list[Subtask]] = {}
        for sub in subtasks:
            sgroup = subs_by_task.get(sub.task_id)
            if sgroup is None:
                subs_by_task[sub.task_id] = [sub]
            else:
                sgroup.append(sub)

        # Each phase's table in chunks, reused from the last render when unchanged.
        old = self._chunks
        chunks = {
            number: self._phase_chunks(group, old.get(number, ()), subs_by_task)
            for number, group in by_phase.items()
        }
        self._chunks = chunks
        counts = {
            number: (sum(c.complete for c in cs), sum(c.counted for c in cs))
            for number, cs in chunks.items()
        }
        done = sum(c[0] for c in counts.values())
        counted = sum(c[1] for c in counts.values())
        overall = _percent(done, counted)

        # Header.
        add(f"# Work Tracker: {_escape_heading(meta.title)}".rstrip())
        add("")
        if not isinstance(meta.initiative_id, UnsetType):
            add(f"> **Initiative:** {escape_cell(meta.initiative_id)}")
        if not isinstance(meta.status, UnsetType):
            add(f"> **Status:** {escape_cell(_title_case(meta.status))}")
        add(f"> **Progress:** {overall}% ({done}/{counted} tasks complete)")
        if not isinstance(meta.created, UnsetType):
            add(f"> **Created:** {escape_cell(meta.created)}")
        if not isinstance(meta.updated, UnsetType):
            add(f"> **Updated:** {escape_cell(meta.updated)}")
        source = f".ecw/plans/{name}.json"
        source = escape_cell(source) if "`" in source else f"`{escape_cell(source)}`"
        add(f"> **Source:** {source} — this file is a view rendered by wtd from it.")
        add("")
        add("---")
        add("")
        add("## Phases")
        add("")

        summary: list[str] = []
        rendered: set[int] = set()
        for phase in tracker.phases:
            number = phase.number
            cs = () if number in rendered else chunks.get(number, ())
            complete, total = counts[number] if cs else (0, 0)
            rendered.add(number)
            progress = _percent(complete, total)
            status_cell = st.cell(phase.status)
            phase_name = _escape_heading(phase.name)
            add(f"### Phase {number}: {phase_name}".rstrip())
            add("")
            add(f"> **Status:** {status_cell}")
            add(f"> **Progress:** {progress}% ({complete}/{total} tasks)")
            add("")
            if not isinstance(phase.description, UnsetType) and phase.description:
                add(_escape_paragraph(phase.description))
                add("")
            _render_tasks(out, cs)
            _render_notes(out, cs, phase.extra.get(NOTES) if phase.extra else None, number)
            summary.append(
                f"| {number} | {escape_cell(phase.name)} | {status_cell} "
                f"| {progress}% | {complete}/{total} |"
            )

        for number in sorted(n for n in chunks if n not in rendered):
            complete, total = counts[number]
            progress = _percent(complete, total)
            add(f"### Phase {number}: {UNLISTED}")
            add("")
            add(_UNLISTED_NOTE)
            add(f"> **Progress:** {progress}% ({complete}/{total} tasks)")
            add("")
            _render_tasks(out, chunks[number])
            _render_notes(out, chunks[number], None, number)
            summary.append(f"| {number} | {UNLISTED} | | {progress}% | {complete}/{total} |")

        if not tracker.phases and not by_phase:
            add("_No phases yet._")
            add("")

        if len(subs_by_task) > 0:
            known = {t.id for t in tasks}
            missing = [tid for tid in subs_by_task if tid not in known]
            if missing:
                add("### Sub-tasks of missing tasks")
                add("")
                add("> **Note:** these sub-tasks name a task that is not in the tracker")
                add("")
                for tid in missing:
                    add(f"#### Task {_escape_heading(tid)}")
                    add("")
                    out.extend(line.encode() for line in _subtask_lines(subs_by_task[tid]))
                    add("")

        add("---")
        add("")
        plan_notes = note_lines(tracker.extra.get(NOTES)) if tracker.extra else ()
        if plan_notes:
            add(NOTES_HEADING)
            add("")
            out.extend(line.encode() for line in _plan_notes(plan_notes))
            add("")
        add("## Progress Summary")
        add("")
        add(SUMMARY_HEADER)
        add(_SUMMARY_RULE)
        out.extend(line.encode() for line in summary)
        add(f"| **Total** | | | **{overall}%** | **{done}/{counted}** |")
        add("")
        add("## Recovery Checksum")
        add("")
        add(f"> **JSON checksum:** `{checksum}`")
        add(
            f"> **Tasks:** {len(tasks)} · **Phases:** {len(tracker.phases)} "
            f"· **Sub-tasks:** {len(subtasks)}"
        )
        add("")
        return b"\n".join(out)

    @staticmethod
    def _phase_chunks(
        group: list[Task],
        old: Sequence[_Chunk],
        subs_by_task: dict[str, list[Subtask]],
    ) -> list[_Chunk]:
        out: list[_Chunk] = []
        for n, start in enumerate(range(0, len(group), _CHUNK)):
            tasks = group[start : start + _CHUNK]
            subs = (
                [s for t in tasks if (ss := subs_by_task.get(t.id)) for s in ss]
                if subs_by_task
                else _NO_SUBS
            )
            cached = old[n] if n < len(old) else None
            if cached and same_objects(cached.tasks, tasks) and same_objects(cached.subs, subs):
                out.append(cached)
            else:
                out.append(_render_chunk(tasks, subs))
        return out


# Status cells: status.cell() once per distinct status, not once per task.
_CELLS: Final[dict[str, str]] = {}


def _render_chunk(group: list[Task], subs: list[Subtask]) -> _Chunk:
    # One comprehension reads every field (a pass over many Structs is the costly
    # part: cache misses), zip(*) transposes in C. Equivalent to model.counts and
    # Task.title, which the tests check. Each column is escaped in one batch, then
    # one C-level join assembles the rows (per-row f-strings cost the most).
    rows = [(t.id, t.name, t.description, t.status, t.verification, t.dependencies) for t in group]
    ids, names, descriptions, statuses, vers, deps = (list(c) for c in zip(*rows, strict=True))
    if UNSET in names:
        names = [
            n if isinstance(n, str) else d if isinstance(d, str) else ""
            for n, d in zip(names, descriptions, strict=True)
        ]
    if UNSET in vers:
        vers = [v if isinstance(v, str) else "" for v in vers]
    complete = statuses.count("complete")
    counted = len(statuses) - sum(map(statuses.count, st.EXCLUDED))
    ids = _escape_all(ids)
    titles = _escape_all(names)
    vers = _escape_all(vers)
    for status in set(statuses):
        if status not in _CELLS:
            _CELLS[status] = f" | {st.cell(status)} |"
    status_col = [_CELLS[s] for s in statuses]
    ver_col = [f" {v} |\n" if v else " |\n" for v in vers]
    ver_col[-1] = ver_col[-1][:-1]
    table = "".join(
        chain.from_iterable(zip(repeat("| "), ids, repeat(" | "), titles, status_col, ver_col))
    )
    # UNSET is falsy
    with_deps = [(task_id, ds) for ds, task_id in zip(deps, ids, strict=True) if ds]
    links = b""
    if with_deps:
        flat = [d for _, ds in with_deps for d in ds]
        if _escape_all(flat) is not flat:
            with_deps = [(tid, tuple(map(escape_cell, ds))) for tid, ds in with_deps]
        links = "; ".join(f"{tid} → {', '.join(ds)}" for tid, ds in with_deps).encode()
    sublines = "\n".join(_subtask_lines(subs)).encode()
    notes = b""
    noted = [s for s in subs if s.extra]
    if noted or any([t.extra for t in group]):
        notes = "\n".join(_notes_of(group, noted)).encode()
    return _Chunk(group, subs, table.encode(), links, sublines, notes, complete, counted)


def _render_tasks(out: list[bytes], chunks: Sequence[_Chunk]) -> None:
    out += [b"#### Tasks", b""]
    if not chunks:
        out += [b"_No tasks yet._", b""]
        return
    out += [_TASK_HEADER_B, _TASK_RULE_B]
    out.extend([c.rows for c in chunks])  # the caller's join puts a newline between
    out.append(b"")
    links = b"; ".join([c.deps for c in chunks if c.deps])
    if links:
        out += [b"**Dependencies:** " + links, b""]
    sublines = [c.sublines for c in chunks if c.sublines]
    if sublines:
        out += [b"#### Sub-tasks", b"", *sublines, b""]


def _notes_of(tasks: list[Task], subs: list[Subtask]) -> list[str]:
    """The Notes items of ``tasks``, each followed by those of its sub-tasks (``subs``:
    the sub-tasks of these tasks that may have notes)."""
    by_task: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for sub in subs:
        if lines := note_lines(sub.extra.get(NOTES)):
            by_task.setdefault(sub.task_id, []).append((sub.id, lines))
    out: list[str] = []
    for task in tasks:
        if task.extra and (lines := note_lines(task.extra.get(NOTES))):
            out += _note_item(task.id, lines)
        for sub_id, sub_lines in by_task.get(task.id, ()):
            out += _note_item(sub_id, sub_lines)
    return out


def _render_notes(out: list[bytes], chunks: Sequence[_Chunk], own: object, number: int) -> None:
    """A phase's Notes block: its own notes (``own``: its notes field), then its tasks'."""
    notes = [c.notes for c in chunks if c.notes]
    lines = note_lines(own)
    if notes or lines:
        out += [TASK_NOTES_HEADING.encode(), b""]
        if lines:
            out.extend(line.encode() for line in _note_item(note_key(number), lines))
        out += [*notes, b""]


# Byte map for the batch check: 0 for every byte escape_cell would change ("|" aside).
_UNSAFE_TO_NUL: Final = bytes(0 if b < 0x20 or b == 0x7F or b in b"\\<&" else b for b in range(256))


def _escape_all(values: list[str]) -> list[str]:
    """``escape_cell`` over a column; a few C-speed scans when nothing needs escaping.

    Returns ``values`` itself when no value needs escaping.
    """
    joined = "|".join(values)
    if joined.isascii():
        raw = joined.encode("ascii")
        clean = (
            b"\0" not in raw.translate(_UNSAFE_TO_NUL)
            and raw.count(b"|") == len(values) - 1
            and b" |" not in raw
            and b"| " not in raw
            and raw[:1] != b" "
            and raw[-1:] != b" "
        )
    else:
        clean = (
            joined.isprintable()
            and "\\" not in joined
            and "<" not in joined
            and "&" not in joined
            and joined.count("|") == len(values) - 1
            and " |" not in joined
            and "| " not in joined
            and joined[:1] != " "
            and joined[-1:] != " "
        )
    return values if clean else list(map(escape_cell, values))


def _subtask_lines(subs: list[Subtask]) -> list[str]:
    if not subs:
        return []
    ids = _escape_all([s.id for s in subs])
    names = _escape_all([s.name for s in subs])
    out = []
    for sub, sub_id, sub_name in zip(subs, ids, names, strict=True):
        box = "x" if sub.done else " "
        out.append(f"- [{box}] {sub_id}: {sub_name}" if sub_name else f"- [{box}] {sub_id}:")
    return out
