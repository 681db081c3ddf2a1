"""The merge: ``merge(base, ours, theirs)``, entity by entity, field by field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Literal, TypeVar

from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from wtd.tracker import model
from wtd.tracker.merge_json.renumber import follow_moves, renumber
from wtd.tracker.merge_json.values import (
    Conflict,
    MergeResult,
    Renumbered,
    by_key,
    grouped,
    later,
    merge_log,
    order,
    same,
)
from wtd.tracker.model import Meta, Phase, Subtask, Task, Tracker
from wtd.tracker.model.raw import struct_raw
from wtd.tracker.ops.progress import phase_status

E = TypeVar("E", Phase, Task, Subtask)
Side = Literal["ours", "theirs"]

_LOGS: Final = frozenset({"evidence"})  # entity fields merged as logs
_DERIVED_META: Final = ("updated", "progress")
_DERIVED_PHASE: Final = ("progress",)


def merge(base: Tracker | None, ours: Tracker, theirs: Tracker) -> MergeResult:
    """Merge ``theirs`` into ``ours``, both changed from ``base`` (None: they have no
    common ancestor). The result is schema-fitted, with its progress derived."""
    return _Merge(base, ours, theirs).run()


def _core(phase: Phase) -> Phase:
    return replace(phase, progress=UNSET)


class _Merge:
    def __init__(self, base: Tracker | None, ours: Tracker, theirs: Tracker) -> None:
        self.two_way = base is None
        self.base = base or Tracker(
            schema_version=ours.schema_version, meta=ours.meta, phases=(), tasks=()
        )
        self.ours = ours
        self.theirs = theirs
        self.conflicts: list[Conflict] = []
        self.renumbered: list[Renumbered] = []
        self.notes: list[str] = []

    # ------------------------------------------------------------ field level

    def value(self, what: str, key: str, b: Any, o: Any, t: Any) -> Any:
        if same(o, t) or same(t, b):
            return o
        if same(o, b):
            return t
        if key in _LOGS:
            return merge_log(b, o, t)
        self.conflicts.append(Conflict(entity=what, field=key, ours=o, theirs=t))
        return o

    def fields(
        self,
        what: str,
        b: dict[str, Any] | None,
        o: dict[str, Any],
        t: dict[str, Any],
        derived: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Key by key (ours' order, then theirs' new keys); ``derived`` keys are ours'."""
        skip = set(derived)
        out: dict[str, Any] = {}
        for key in [*o, *(k for k in t if k not in o)]:
            ov = o.get(key, UNSET)
            tv = t.get(key, UNSET)
            if key in skip:
                v = tv if ov is UNSET else ov
            else:
                v = self.value(what, key, UNSET if b is None else b.get(key, UNSET), ov, tv)
            if v is not UNSET:
                out[key] = v
        return out

    def entity(
        self, cls: type[E], what: str, b: E | None, o: E, t: E, derived: tuple[str, ...] = ()
    ) -> E:
        if o is t or o == t or (b is not None and t == b):
            return o
        if b is not None and o == b:
            return t
        base = None if b is None else struct_raw(b)
        raw = self.fields(what, base, struct_raw(o), struct_raw(t), derived)
        return model.entity_from_raw(cls, raw, what)

    def deleted(self, what: str, side: Side, kept: E) -> None:
        """``kept`` was deleted on the other side and changed on ``side``."""
        if side == "ours":
            self.conflicts.append(Conflict(entity=what, field="", ours=struct_raw(kept)))
        else:
            self.conflicts.append(Conflict(entity=what, field="", theirs=struct_raw(kept)))

    # ------------------------------------------------------------ the whole

    def run(self) -> MergeResult:
        base, ours, theirs = self.base, self.ours, self.theirs
        if not self.two_way:
            base, ours, theirs = follow_moves(base, ours, theirs)
            theirs, self.renumbered = renumber(base, ours, theirs)
        phases, gone_phases = self.phases(base, ours, theirs)
        tasks, gone, kept_by = self.tasks(base, ours, theirs)
        subtasks = self.subtasks(base, ours, theirs, gone, kept_by)
        if gone_phases:
            phases = self.phases_in_use(base, ours, theirs, phases, gone_phases, tasks)
        tasks = self.without_gone_dependencies(tasks, gone)
        b = None if self.two_way else base
        logged = merge_log(UNSET if b is None else b.events, ours.events, theirs.events)
        events: tuple[dict[str, Any], ...] | UnsetType = UNSET if logged is UNSET else tuple(logged)
        no_subtasks = not subtasks and ours.subtasks is UNSET and theirs.subtasks is UNSET
        merged = Tracker(
            schema_version=self.value(
                "tracker",
                "schema_version",
                UNSET if b is None else b.schema_version,
                ours.schema_version,
                theirs.schema_version,
            ),
            meta=self.meta(b, ours, theirs),
            phases=tuple(phases),
            tasks=tuple(tasks),
            subtasks=UNSET if no_subtasks else tuple(subtasks),
            events=events,
            extra=self.fields("tracker", None if b is None else b.extra, ours.extra, theirs.extra),
        )
        merged = _phases_following_their_tasks(merged, ours, theirs)
        fitted, adapted = model.fit_schema(model.with_derived_progress(merged))
        self.notes.extend(adapted)
        return MergeResult(
            tracker=fitted,
            conflicts=tuple(self.conflicts),
            renumbered=tuple(self.renumbered),
            notes=tuple(self.notes),
        )

    def meta(self, base: Tracker | None, ours: Tracker, theirs: Tracker) -> Meta:
        o, t = ours.meta, theirs.meta
        if o == t:
            return o
        b = None if base is None else struct_raw(base.meta)
        raw = self.fields("meta", b, struct_raw(o), struct_raw(t), _DERIVED_META)
        meta = model.entity_from_raw(Meta, raw, "meta")
        return replace(meta, updated=later(o.updated, t.updated))

    # ------------------------------------------------------------ entities

    def phases(
        self, base: Tracker, ours: Tracker, theirs: Tracker
    ) -> tuple[list[Phase], dict[int, Phase]]:
        """The merged phases, and those the merge deleted (by number)."""
        b = by_key(base.phases, lambda p: p.number)
        o = by_key(ours.phases, lambda p: p.number)
        t = by_key(theirs.phases, lambda p: p.number)
        keep: dict[int, Phase] = {}
        gone: dict[int, Phase] = {}
        for n, mine in o.items():
            was, other = b.get(n), t.get(n)
            if other is not None:
                keep[n] = self.entity(Phase, f"phase {n}", was, mine, other, _DERIVED_PHASE)
            elif was is None:
                keep[n] = mine
            elif _core(mine) == _core(was):
                gone[n] = was
            else:
                self.deleted(f"phase {n}", "ours", mine)
                keep[n] = mine
        for n, other in t.items():
            if n in o:
                continue
            was = b.get(n)
            if was is None:
                keep[n] = other
            elif _core(other) == _core(was):
                gone[n] = was
            else:
                self.deleted(f"phase {n}", "theirs", other)
                keep[n] = other
        gone.update((n, was) for n, was in b.items() if n not in o and n not in t)
        return order(o, t, lambda n: n in b or n in t, keep), gone

    def phases_in_use(
        self,
        base: Tracker,
        ours: Tracker,
        theirs: Tracker,
        phases: list[Phase],
        gone: dict[int, Phase],
        tasks: list[Task],
    ) -> list[Phase]:
        """A phase one side deleted stays while the merge keeps tasks in it (tasks the
        other side changed or added): a conflict, as for a task."""
        used = {t.phase for t in tasks} & gone.keys()
        if not used:
            return phases
        o = by_key(ours.phases, lambda p: p.number)
        t = by_key(theirs.phases, lambda p: p.number)
        keep = {p.number: p for p in phases}
        for n in sorted(used):
            if n in o:
                keep[n] = o[n]
                self.deleted(f"phase {n}", "ours", o[n])
            elif n in t:
                keep[n] = t[n]
                self.deleted(f"phase {n}", "theirs", t[n])
            else:
                keep[n] = gone[n]
                self.notes.append(f"phase {n}: deleted on both sides, kept for its tasks")
        b = {p.number for p in base.phases}
        return order(o, t, lambda n: n in b or n in t, keep)

    def tasks(
        self, base: Tracker, ours: Tracker, theirs: Tracker
    ) -> tuple[list[Task], set[str], dict[str, Side]]:
        """The merged tasks; the ids the merge deleted; the tasks kept against a
        deletion, with the side that keeps them (its sub-tasks of them are kept)."""
        b = by_key(base.tasks, lambda t: t.id)
        o = by_key(ours.tasks, lambda t: t.id)
        t = by_key(theirs.tasks, lambda t: t.id)
        b_subs = grouped(base.all_subtasks())
        o_subs = grouped(ours.all_subtasks())
        t_subs = grouped(theirs.all_subtasks())
        keep: dict[str, Task] = {}
        gone: set[str] = set()
        kept_by: dict[str, Side] = {}

        def on_one_side(task: Task, side: Side, subs: dict[str, list[Subtask]]) -> None:
            """A task only ``side`` has: added there, deleted on the other side (gone,
            unless ``side`` changed it or its sub-tasks: then kept, a conflict)."""
            was = b.get(task.id)
            if was is None:
                keep[task.id] = task
            elif task == was and subs.get(task.id, []) == b_subs.get(task.id, []):
                gone.add(task.id)
            else:
                self.deleted(f"task {task.id}", side, task)
                keep[task.id] = task
                kept_by[task.id] = side

        for task_id, mine in o.items():
            other = t.get(task_id)
            if other is not None:
                keep[task_id] = self.entity(Task, f"task {task_id}", b.get(task_id), mine, other)
            else:
                on_one_side(mine, "ours", o_subs)
        for task_id, other in t.items():
            if task_id not in o:
                on_one_side(other, "theirs", t_subs)
        gone.update(task_id for task_id in b if task_id not in o and task_id not in t)
        return order(o, t, lambda i: i in b or i in t, keep), gone, kept_by

    def subtasks(
        self,
        base: Tracker,
        ours: Tracker,
        theirs: Tracker,
        gone: set[str],
        kept_by: dict[str, Side],
    ) -> list[Subtask]:
        """Sub-tasks by id; those of a deleted task go, those of a task kept against a
        deletion are the keeping side's."""
        b = by_key(base.all_subtasks(), lambda s: s.id)
        o = by_key(ours.all_subtasks(), lambda s: s.id)
        t = by_key(theirs.all_subtasks(), lambda s: s.id)
        keep: dict[str, Subtask] = {}
        for sub_id, mine in o.items():
            owner = kept_by.get(mine.task_id)
            if mine.task_id in gone or owner == "theirs":
                continue
            was, other = b.get(sub_id), t.get(sub_id)
            if owner == "ours" or (other is None and was is None):
                keep[sub_id] = mine
            elif other is not None:
                keep[sub_id] = self.entity(Subtask, f"sub-task {sub_id}", was, mine, other)
            elif mine != was:
                self.deleted(f"sub-task {sub_id}", "ours", mine)
                keep[sub_id] = mine
        for sub_id, other in t.items():
            owner = kept_by.get(other.task_id)
            if sub_id in o or other.task_id in gone or owner == "ours":
                continue
            was = b.get(sub_id)
            if owner == "theirs" or was is None:
                keep[sub_id] = other
            elif other != was:
                self.deleted(f"sub-task {sub_id}", "theirs", other)
                keep[sub_id] = other
        return order(o, t, lambda i: i in b or i in t, keep)

    def without_gone_dependencies(self, tasks: list[Task], gone: set[str]) -> list[Task]:
        """Dependencies on tasks the merge deleted dropped (as deleting a task does)."""
        if not gone:
            return tasks
        out: list[Task] = []
        for task in tasks:
            deps = task.dependencies
            if isinstance(deps, tuple) and not gone.isdisjoint(deps):
                dropped = ", ".join(d for d in deps if d in gone)
                kept = tuple(d for d in deps if d not in gone)
                task = replace(task, dependencies=kept)
                self.notes.append(f"task {task.id}: dependency on deleted {dropped} dropped")
            out.append(task)
        return out


def _tally(tracker: Tracker) -> dict[int, tuple[int, int, bool]]:
    """Per phase: (complete, counted, one in progress) — what its status follows."""
    done: dict[int, tuple[int, int, bool]] = {}
    for t in tracker.tasks:
        d, n, started = done.get(t.phase, (0, 0, False))
        if t.status not in ("skipped", "superseded"):
            n += 1
            d += t.status == "complete"
        done[t.phase] = (d, n, started or t.status == "in_progress")
    return done


def _phases_following_their_tasks(merged: Tracker, ours: Tracker, theirs: Tracker) -> Tracker:
    """A phase whose status came from a side whose tasks the merge changed follows its
    merged tasks where that status now contradicts them (``phase_status``): ours
    completes the last open task of a phase while theirs adds one to it — not
    "Complete" at 67%. A status a side set by hand over the same tasks is kept."""
    now, sides = _tally(merged), (ours, theirs)
    tallies = [_tally(side) for side in sides]
    fixed: list[Phase] = []
    for p in merged.phases:
        here = now.get(p.number, (0, 0, False))
        from_sides = [
            tally.get(p.number, (0, 0, False))
            for side, tally in zip(sides, tallies, strict=True)
            if (q := side.phase(p.number)) is not None and q.status == p.status
        ]
        if not from_sides or here in from_sides:
            fixed.append(p)
            continue
        status = phase_status(p.status, here[0], here[1], here[2])
        fixed.append(p if status == p.status else replace(p, status=status))
    if all(a is b for a, b in zip(fixed, merged.phases, strict=True)):
        return merged
    return replace(merged, phases=tuple(fixed))
