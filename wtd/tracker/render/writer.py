"""Writing the view: ``render`` and the ``Renderer`` that caches the view of the tasks
in chunks of the tracker's task tuple, so a small change to a big tracker re-renders
little and looks at the rest only at C speed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import chain, compress, groupby, repeat
from math import isqrt
from operator import attrgetter, indexOf, is_
from typing import Final, NamedTuple, TypeVar

from msgspec import UNSET, UnsetType

from wtd.tracker import status as st
from wtd.tracker.claims import claim_of, shown_time
from wtd.tracker.model import NOTES, Subtask, Task, Tracker
from wtd.tracker.model.structs import same_run, same_tail, tuple_from
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

_T = TypeVar("_T")


def _title_case(text: str) -> str:
    words = text.replace("_", " ").replace("-", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words)


def _percent(complete: int, counted: int) -> int:
    # Same law as model.overall_progress / model.phase_progress.
    return round(100 * complete / counted) if counted else 0


# How far from where a cached chunk is expected it is looked for (tasks added or removed
# before it move it); a chunk moved further is rendered again.
_REACH: Final = 1024
_NO_SUBS: Final[list[Subtask]] = []
# C-level keys for groupby and map: a Python loop over all the chunks or parts of a
# big tracker would cost more than the few of them a change renders.
_PHASE_OF: Final = attrgetter("phase")  # of a task or a part
_ID_OF: Final = attrgetter("id")
_OWNER_OF: Final = attrgetter("task_id")
_PARTS: Final = attrgetter("parts")
_ROWS: Final = attrgetter("rows")
_DEPS: Final = attrgetter("deps")
_SUBLINES: Final = attrgetter("sublines")
_NOTE_ITEMS: Final = attrgetter("notes")
_CLAIMS: Final = attrgetter("claims")
_COMPLETE: Final = attrgetter("complete")
_COUNTED: Final = attrgetter("counted")
_MISSING_HEAD: Final = (
    "### Sub-tasks of missing tasks",
    "",
    "> **Note:** these sub-tasks name a task that is not in the tracker",
    "",
)


class _Part(NamedTuple):
    """The tasks of one phase in a chunk, rendered."""

    phase: int
    rows: bytes  # the table rows, joined with newlines (UTF-8, like all below)
    deps: bytes  # "2.2 → 2.1; 2.3 → 2.2" for these tasks (b"" when none has any)
    sublines: bytes  # the "- [x] 2.2.1: name" lines, joined with newlines
    notes: bytes  # the "- **2.2**" items of these tasks' (and sub-tasks') notes
    claims: list[str]  # the "| 2.2 | agent-1 | … |" rows of these tasks' claims
    complete: int
    counted: int


class _Chunk(NamedTuple):
    """Consecutive tasks of the tuple (about ``_chunk_size``), of any phases, rendered."""

    size: int
    parts: tuple[_Part, ...]  # one per phase, in the order the phases first appear
    ids: tuple[str, ...] | None  # the tasks' ids, sorted, once sub-tasks need them (_ids)


def render(tracker: Tracker, *, name: str, checksum: str) -> str:
    """The Markdown view of ``tracker``.

    ``name`` is the tracker's name (file stem); ``checksum`` is the digest of the
    JSON bytes the caller wrote, shown verbatim under Recovery Checksum.
    """
    return Renderer().render(tracker, name=name, checksum=checksum).decode()


class Renderer:
    """``render`` (as UTF-8) with a cache of the view of the tasks, in chunks.

    Tasks are immutable and unchanged ones are shared between a tracker and the next
    version. The cache tiles the task tuple with chunks of consecutive tasks (of any
    phases: the view groups tasks by phase in tuple order, so each chunk is rendered
    as a part per phase). The next tuple is tiled with the cached chunks found in it
    again (the same objects in the same order, even moved by tasks added or removed
    before them: C-speed checks that copy nothing) and new chunks for the tasks in
    between, the only ones rendered; then each phase is put together from its parts.
    Sub-tasks are kept grouped by task: when the sub-task tuple changes, what changed
    is found at C speed too, and only the chunks holding those tasks are rendered
    again. So a change renders a chunk or two (about √n tasks each: ``_chunk_size``)
    and looks at the rest at C speed, plus a little per chunk to put the view together.
    The output is ``render(...)`` byte for byte. One Renderer per tracker (the Store's).

    It writes UTF-8 bytes piece by piece: a Python string holding the whole view
    would be four bytes per character (the status icons are outside the BMP).
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._tasks: tuple[Task, ...] = ()  # the task tuple the chunks tile
        self._chunks: list[_Chunk] = []
        self._starts: list[int] = [0]  # where each chunk starts in _tasks, then len(_tasks)
        self._subtasks: tuple[Subtask, ...] = ()  # the sub-tasks _subs_by_task groups
        self._subs_by_task: dict[str, list[Subtask]] = {}  # in tuple order
        self._owners: list[str] = []  # the task id of each of _subtasks
        self._orphans: set[str] = set()  # ids of missing tasks that have sub-tasks
        self._orphan_section: bytes = b""  # theirs ("Sub-tasks of missing tasks")

    def render(self, tracker: Tracker, *, name: str, checksum: str) -> bytes:
        out: list[bytes] = []

        def add(line: str) -> None:
            out.append(line.encode())

        meta = tracker.meta
        tasks = tracker.tasks
        subtasks = tracker.all_subtasks()
        try:
            self._update(tasks, subtasks)
        except BaseException:
            self._reset()  # half updated, the cache would be wrong rather than cold
            raise

        # Each phase's parts in tuple order, phases in the order they first appear (a
        # run of parts of one phase, across chunks, is moved in C).
        by_phase: dict[int, list[_Part]] = {}
        all_parts = chain.from_iterable(map(_PARTS, self._chunks))
        for number, run in groupby(all_parts, key=_PHASE_OF):
            group = by_phase.get(number)
            if group is None:
                by_phase[number] = list(run)
            else:
                group.extend(run)
        counts = {
            number: (sum(map(_COMPLETE, parts)), sum(map(_COUNTED, parts)))
            for number, parts in by_phase.items()
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
            parts: Sequence[_Part] = () if number in rendered else by_phase.get(number, ())
            complete, total = counts[number] if parts else (0, 0)
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
            _render_tasks(out, parts)
            _render_notes(out, parts, phase.extra.get(NOTES) if phase.extra else None, number)
            summary.append(
                f"| {number} | {escape_cell(phase.name)} | {status_cell} "
                f"| {progress}% | {complete}/{total} |"
            )

        for number in sorted(n for n in by_phase if n not in rendered):
            complete, total = counts[number]
            progress = _percent(complete, total)
            add(f"### Phase {number}: {UNLISTED}")
            add("")
            add(UNLISTED_NOTE)
            add(f"> **Progress:** {progress}% ({complete}/{total} tasks)")
            add("")
            _render_tasks(out, by_phase[number])
            _render_notes(out, by_phase[number], None, number)
            summary.append(f"| {number} | {UNLISTED} | | {progress}% | {complete}/{total} |")

        if not tracker.phases and not by_phase:
            add("_No phases yet._")
            add("")

        if self._orphan_section:
            out.append(self._orphan_section)

        add("---")
        add("")
        claim_rows = [*chain.from_iterable(map(_CLAIMS, chain.from_iterable(by_phase.values())))]
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

    def _update(self, tasks: tuple[Task, ...], subtasks: tuple[Subtask, ...]) -> None:
        """Bring the cache up to ``tasks`` and ``subtasks``."""
        changed = self._regroup(subtasks)
        stale = (
            [x for x in range(len(self._chunks)) if _among(changed, self._ids(x))]
            if changed
            else []
        )
        if tasks is self._tasks:  # the chunks stand where they are
            moved: set[str] = set()
            for x in stale:
                self._chunks[x] = self._chunk(tasks[self._starts[x] : self._starts[x + 1]])
        else:
            moved = self._retile(tasks, stale)
        if changed or moved:
            self._find_orphans(changed | moved, subtasks)

    def _regroup(self, subtasks: tuple[Subtask, ...]) -> set[str]:
        """Bring ``_subs_by_task`` up to ``subtasks``; returns the ids of the tasks whose
        sub-tasks changed. Those lie where the old and new tuples differ, found at C
        speed from either end; their groups are gathered again in one C-speed pass
        over ``_owners`` (a column of strings: quicker to read than the sub-tasks)."""
        old = self._subtasks
        if subtasks is old:
            return set()
        head = same_run(old, 0, subtasks, 0)
        tail = min(same_tail(old, subtasks), min(len(old), len(subtasks)) - head)
        came = list(map(_OWNER_OF, subtasks[head : len(subtasks) - tail]))
        owners = self._owners
        changed = set(owners[head : len(old) - tail])
        changed.update(came)
        owners[head : len(old) - tail] = came
        by_task = self._subs_by_task
        for task_id in changed:
            by_task.pop(task_id, None)
        for sub in compress(subtasks, map(changed.__contains__, owners)):
            group = by_task.get(sub.task_id)
            if group is None:
                by_task[sub.task_id] = [sub]
            else:
                group.append(sub)
        self._subtasks = subtasks
        return changed

    def _retile(self, tasks: tuple[Task, ...], stale: list[int]) -> set[str]:
        """Tile ``tasks`` with the cached chunks found in it whole (but the ``stale``
        ones, by index) and new chunks for the tasks between them.

        Each cached chunk is looked for where the one before it ended (then nearby),
        and the objects that follow are checked at C speed in one run, over as many
        chunks as it covers. Returns, when there are sub-tasks, the ids of the tasks
        that may have come or gone (in the chunks dropped or made but not in both;
        with no chunks before, any task with sub-tasks).
        """
        old, chunks, starts = self._tasks, self._chunks, self._starts
        track = bool(self._subs_by_task) and bool(chunks)
        kept: list[_Chunk] = []
        kept_starts: list[int] = []
        gone: set[str] = set()
        came: set[str] = set()

        def fill(lo: int, hi: int) -> None:
            """New chunks for tasks[lo:hi], as even as can be."""
            count = -(-(hi - lo) // _chunk_size(len(tasks)))
            for k in range(count):
                a = lo + (hi - lo) * k // count
                chunk = self._chunk(tasks[a : lo + (hi - lo) * (k + 1) // count])
                kept_starts.append(a)
                kept.append(chunk)
                if track and chunk.ids is not None:
                    came.update(chunk.ids)

        done = 0  # tasks[:done] is tiled
        at = 0  # where chunk c is expected in tasks
        # The last run checked: old[x] is tasks[x + run_shift] from the chunk it started
        # at up to run_end (so each object is checked once, however many chunks it spans).
        run_shift, run_end = 0, 0
        c = 0
        while c < len(chunks):
            first = starts[c]
            head = old[first]
            if at < len(tasks) and tasks[at] is head:
                pos = at
            else:
                pos = _find(tasks, head, max(done, at - _REACH), at + _REACH + 1)
            end = c  # chunks c..end-1 are found whole
            if pos >= 0:
                if pos - first != run_shift or first >= run_end:
                    run_shift, run_end = pos - first, first + same_run(old, first, tasks, pos)
                end = bisect_right(starts, run_end, c) - 1
                k = bisect_left(stale, c)  # the first stale chunk from c on
                if k < len(stale) and stale[k] < end:
                    end = stale[k]
            if end == c:
                if track:
                    gone.update(self._ids(c))
                at = max(pos, at) + chunks[c].size
                c += 1
                continue
            if pos > done:
                fill(done, pos)
            shift = pos - first
            kept_starts += [s + shift for s in starts[c:end]] if shift else starts[c:end]
            kept += chunks[c:end]
            done = at = pos + starts[end] - first
            c = end
        if done < len(tasks):
            fill(done, len(tasks))
        kept_starts.append(len(tasks))
        self._tasks, self._chunks, self._starts = tasks, kept, kept_starts
        if not chunks:
            return set(self._subs_by_task)
        return (gone ^ came).intersection(self._subs_by_task)

    def _chunk(self, tasks: tuple[Task, ...]) -> _Chunk:
        """``tasks`` rendered, a part per phase."""
        groups: dict[int, list[Task]] = {}
        for number, run in groupby(tasks, key=_PHASE_OF):  # runs of one phase move in C
            group = groups.get(number)
            if group is None:
                groups[number] = list(run)
            else:
                group.extend(run)
        by_task = self._subs_by_task
        parts = tuple(_render_part(number, group, by_task) for number, group in groups.items())
        return _Chunk(len(tasks), parts, _sorted_ids(tasks) if by_task else None)

    def _ids(self, x: int) -> tuple[str, ...]:
        """The ids of the tasks of chunk ``x``, sorted (kept from the first time they are
        needed: only sub-tasks need them)."""
        chunk = self._chunks[x]
        if chunk.ids is not None:
            return chunk.ids
        ids = _sorted_ids(self._tasks[self._starts[x] : self._starts[x + 1]])
        self._chunks[x] = chunk._replace(ids=ids)
        return ids

    def _find_orphans(self, candidates: set[str], subtasks: tuple[Subtask, ...]) -> None:
        """Update which tasks with sub-tasks are missing, for the ``candidates`` (whose
        sub-tasks or whose presence may have changed), and their section if need be."""
        by_task = self._subs_by_task
        wanted = candidates.intersection(by_task)
        found: set[str] = set()
        if wanted:
            for x in range(len(self._chunks)):
                found |= _among(wanted, self._ids(x))
        orphans = self._orphans
        if orphans.isdisjoint(candidates) and wanted <= found:
            return
        orphans.difference_update(candidates)
        orphans |= wanted - found
        lines: list[str] = []
        if orphans:
            # In the order their first sub-tasks come in the tuple.
            firsts = compress(subtasks, map(orphans.__contains__, self._owners))
            lines += _MISSING_HEAD
            for task_id in dict.fromkeys(s.task_id for s in firsts):
                lines += [f"#### Task {escape_heading(task_id)}", ""]
                lines += _subtask_lines(by_task[task_id])
                lines.append("")
        self._orphan_section = "\n".join(lines).encode()


def _chunk_size(count: int) -> int:
    """Tasks per new chunk in a tuple of ``count`` tasks. A change renders a chunk again
    and the view is put together from all the chunks: √count balances the two."""
    return max(32, isqrt(count))


def _sorted_ids(tasks: tuple[Task, ...]) -> tuple[str, ...]:
    # Sorted in C, searched by bisection: 8 bytes an id, where a set takes 40 to 100.
    return tuple(sorted(map(_ID_OF, tasks)))


def _among(wanted: set[str], ids: tuple[str, ...]) -> set[str]:
    """Those of ``wanted`` in ``ids`` (sorted): bisected when they are few (a bisection
    costs about what a pass over 16 ids does), else found in one C-speed pass."""
    if len(wanted) * 16 > len(ids):
        return wanted.intersection(ids)
    found = set()
    for task_id in wanted:
        k = bisect_left(ids, task_id)
        if k < len(ids) and ids[k] == task_id:
            found.add(task_id)
    return found


def _find(seq: tuple[object, ...], item: object, lo: int, hi: int) -> int:
    """Where ``item`` itself is in ``seq[lo:hi]``, -1 if it is not there (C speed)."""
    try:
        return lo + indexOf(map(is_, tuple_from(seq, lo), repeat(item, max(0, hi - lo))), True)
    except ValueError:
        return -1


# Status cells: status.cell() once per distinct status, not once per task.
_CELLS: Final[dict[str, str]] = {}


def _render_part(number: int, group: list[Task], by_task: dict[str, list[Subtask]]) -> _Part:
    """The tasks ``group`` of phase ``number`` (``by_task``: sub-tasks by task id)."""
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
    subs = [s for t in group if (ss := by_task.get(t.id)) for s in ss] if by_task else _NO_SUBS
    sublines = "\n".join(_subtask_lines(subs)).encode()
    notes = b""
    claimed: list[str] = []
    if any([s.extra for s in subs]) or any([t.extra for t in group]):
        notes = "\n".join(_notes_of(group, by_task)).encode()
        claimed = _claim_rows(group)
    return _Part(number, table.encode(), links, sublines, notes, claimed, complete, counted)


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


def _render_tasks(out: list[bytes], parts: Sequence[_Part]) -> None:
    out += [b"#### Tasks", b""]
    if not parts:
        out += [b"_No tasks yet._", b""]
        return
    out += [TASK_HEADER_B, TASK_RULE_B]
    out.extend(map(_ROWS, parts))  # the caller's join puts a newline between
    out.append(b"")
    links = b"; ".join(filter(None, map(_DEPS, parts)))
    if links:
        out += [b"**Dependencies:** " + links, b""]
    sublines = [*filter(None, map(_SUBLINES, parts))]
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


def _render_notes(out: list[bytes], parts: Sequence[_Part], own: object, number: int) -> None:
    """A phase's Notes block: its own notes (``own``: its notes field), then its tasks'."""
    notes = [*filter(None, map(_NOTE_ITEMS, parts))]
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
