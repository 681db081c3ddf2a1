"""Writing the view: ``render`` and the ``Renderer`` that caches each phase's table
in chunks of tasks, so a small change to a big tracker re-renders little.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, groupby, repeat
from operator import attrgetter
from typing import Final, NamedTuple

from msgspec import UNSET, UnsetType

from wtd.tracker import status as st
from wtd.tracker.claims import claim_of, shown_time
from wtd.tracker.model import NOTES, Subtask, Task, Tracker, same_objects
from wtd.tracker.render.escape import escape_cell, escape_heading, escape_paragraph
from wtd.tracker.render.layout import (
    CLAIMS_HEADER,
    CLAIMS_HEADING,
    CLAIMS_RULE,
    NOTES_HEADING,
    SUMMARY_HEADER,
    SUMMARY_RULE,
    TASK_HEADER_B,
    TASK_NOTES_HEADING,
    TASK_RULE_B,
    UNLISTED,
    UNLISTED_NOTE,
)
from wtd.tracker.render.notes import note_item, note_key, note_lines, plan_note_lines


def _title_case(text: str) -> str:
    words = text.replace("_", " ").replace("-", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words)


def _percent(complete: int, counted: int) -> int:
    # Same law as model.overall_progress / model.phase_progress.
    return round(100 * complete / counted) if counted else 0


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
    claims: list[str]  # the "| 2.2 | agent-1 | … |" rows of these tasks' claims
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
        add(f"# Work Tracker: {escape_heading(meta.title)}".rstrip())
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
            phase_name = escape_heading(phase.name)
            add(f"### Phase {number}: {phase_name}".rstrip())
            add("")
            add(f"> **Status:** {status_cell}")
            add(f"> **Progress:** {progress}% ({complete}/{total} tasks)")
            add("")
            if not isinstance(phase.description, UnsetType) and phase.description:
                add(escape_paragraph(phase.description))
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
            add(UNLISTED_NOTE)
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
                    add(f"#### Task {escape_heading(tid)}")
                    add("")
                    out.extend(line.encode() for line in _subtask_lines(subs_by_task[tid]))
                    add("")

        add("---")
        add("")
        claim_rows = [row for cs in chunks.values() for c in cs for row in c.claims]
        if claim_rows:
            add(CLAIMS_HEADING)
            add("")
            add(CLAIMS_HEADER)
            add(CLAIMS_RULE)
            out.extend(row.encode() for row in claim_rows)
            add("")
        plan_notes = note_lines(tracker.extra.get(NOTES)) if tracker.extra else ()
        if plan_notes:
            add(NOTES_HEADING)
            add("")
            out.extend(line.encode() for line in plan_note_lines(plan_notes))
            add("")
        add("## Progress Summary")
        add("")
        add(SUMMARY_HEADER)
        add(SUMMARY_RULE)
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
                out.append(_render_chunk(tasks, subs, subs_by_task))
        return out


# Status cells: status.cell() once per distinct status, not once per task.
_CELLS: Final[dict[str, str]] = {}


def _render_chunk(
    group: list[Task], subs: list[Subtask], by_task: dict[str, list[Subtask]]
) -> _Chunk:
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
    claimed: list[str] = []
    if any([s.extra for s in subs]) or any([t.extra for t in group]):
        notes = "\n".join(_notes_of(group, by_task)).encode()
        claimed = _claim_rows(group)
    return _Chunk(group, subs, table.encode(), links, sublines, notes, claimed, complete, counted)


def _claim_rows(tasks: list[Task]) -> list[str]:
    """The Claims rows of ``tasks``: every recorded claim of a task not settled (the
    view has no clock: a lease that ended shows until wtd gives the task back)."""
    rows = []
    for task in tasks:
        if task.extra and (claim := claim_of(task)) is not None and task.status not in st.SETTLED:
            rows.append(
                f"| {escape_cell(task.id)} | {escape_cell(claim.by)} "
                f"| {escape_cell(shown_time(claim.until))} |"
            )
    return rows


def _render_tasks(out: list[bytes], chunks: Sequence[_Chunk]) -> None:
    out += [b"#### Tasks", b""]
    if not chunks:
        out += [b"_No tasks yet._", b""]
        return
    out += [TASK_HEADER_B, TASK_RULE_B]
    out.extend([c.rows for c in chunks])  # the caller's join puts a newline between
    out.append(b"")
    links = b"; ".join([c.deps for c in chunks if c.deps])
    if links:
        out += [b"**Dependencies:** " + links, b""]
    sublines = [c.sublines for c in chunks if c.sublines]
    if sublines:
        out += [b"#### Sub-tasks", b"", *sublines, b""]


def _notes_of(tasks: list[Task], by_task: dict[str, list[Subtask]]) -> list[str]:
    """The Notes items of ``tasks``, each followed by those of its sub-tasks (``by_task``:
    sub-tasks by task id). Two tasks of one id each show the sub-tasks' once, as each
    lists them once: the items do not depend on how the tasks are chunked."""
    out: list[str] = []
    for task in tasks:
        if task.extra and (lines := note_lines(task.extra.get(NOTES))):
            out += note_item(task.id, lines)
        for sub in by_task.get(task.id, ()):
            if sub.extra and (lines := note_lines(sub.extra.get(NOTES))):
                out += note_item(sub.id, lines)
    return out


def _render_notes(out: list[bytes], chunks: Sequence[_Chunk], own: object, number: int) -> None:
    """A phase's Notes block: its own notes (``own``: its notes field), then its tasks'."""
    notes = [c.notes for c in chunks if c.notes]
    lines = note_lines(own)
    if notes or lines:
        out += [TASK_NOTES_HEADING.encode(), b""]
        if lines:
            out.extend(line.encode() for line in note_item(note_key(number), lines))
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
