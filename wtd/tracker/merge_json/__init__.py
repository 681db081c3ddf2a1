"""Three-way merge of two versions of a tracker JSON, field by field (SPEC §11).

Pure: no I/O, no clock. ``merge(base, ours, theirs)`` is git's merge driver for
``.ecw/plans/*.json`` (``wtctl git merge-json``), and deterministic: the same three
trackers give the same result, byte for byte once encoded, so the view's driver can
run the same merge and render exactly the JSON that the JSON's driver writes.

Entities are matched by key — phases by number, tasks and sub-tasks by id — and
merged field by field: a task's status, name, verification, dependencies, notes,
every unknown field… each on its own; the meta's fields and the tracker's top-level
fields likewise. A field changed on one side only takes that side's value; the same
value on both sides is no conflict; different values on both sides are a
``Conflict``: ours stays, both values are listed. Derived fields are never compared:
progress is derived again at the end, the meta's ``updated`` is the later of the two
sides'. Lists that are logs — a task's ``evidence``, the tracker's ``events`` — merge
as logs: what either side added is kept, what one side removed and the other left
alone goes.

An entity deleted on one side and changed on the other (a task whose sub-tasks were
changed counts as changed) is a Conflict, and is kept as the side that changed it
has it. Entities added on both sides under the same key keep both when they differ:
theirs is renumbered (``Renumbered``) to the next free key — a task to the next free
id of its phase, its sub-tasks' ids and ``task_id`` following it, and the dependencies
theirs gave other tasks on it too; a sub-task to the next free id of its task; a
phase added on both sides under different names to the next free number, with the
tasks theirs added to it. Dependencies on tasks the merge deleted are dropped, as
deleting a task does. With no base (a tracker added on both sides), entities with
the same key are the same entity: nothing is renumbered or deleted, differing fields
conflict.

Everything works on dicts keyed by id: linear in the size of the trackers.
``values`` holds the result's types and the small merges (a field, a log, an
order); ``renumber`` the renumbering of theirs; ``merger`` the merge itself.
"""

from __future__ import annotations

from wtd.tracker.merge_json.merger import merge
from wtd.tracker.merge_json.values import Conflict, MergeResult, Renumbered

__all__ = ["Conflict", "MergeResult", "Renumbered", "merge"]
