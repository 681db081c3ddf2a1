"""Claims (SPEC §12): claim next, claim, release, renew, expire; and the renewal that
any change of a claimer to its task brings (``renewed``).

Decided from the tracker and ``at`` alone, so the Store stages them in order like
every change (two claims in one batch see each other) and the journal replays them
to the same result. A claim is recorded as ``claims.CLAIM`` in the task's extra.
"""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from wtd import errors
from wtd.tracker import claims as cl
from wtd.tracker import commands as c
from wtd.tracker import status as st
from wtd.tracker.claims import Claim
from wtd.tracker.model import Task, Tracker
from wtd.tracker.ops.common import Applied, deps_of, plural, unchanged
from wtd.tracker.ops.lookup import find_phase, find_task
from wtd.tracker.ops.progress import finish, put


def _result(task: Task, claim: Claim) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.title,
        "phase": task.phase,
        "status": task.status,
        "by": claim.by,
        "until": claim.until,
        "lease": claim.lease,
    }


def _held(task: Task, claim: Claim) -> str:
    return (
        f"Task {task.id} is claimed by {claim.by} until {cl.shown_time(claim.until)}"
        f" (lease {claim.lease:g}s)"
    )


def _take(tracker: Tracker, i: int, holder: str, lease: float, at: str, line: str) -> Applied:
    task = tracker.tasks[i]
    claim = cl.made(task.id, holder, at, lease)
    new = cl.with_claim(task, claim)
    if new.status != "in_progress":
        new = replace(new, status="in_progress")
    return Applied(
        tracker=put(tracker, i, new, at),
        lines=[f"{line} — {holder} holds it until {cl.shown_time(claim.until)}."],
        healing=[],
        result=_result(new, claim),
        changed=True,
    )


def ready(tracker: Tracker, at: str, phase: int | None = None) -> tuple[int | None, list[Claim]]:
    """The index of what ``next`` picks among unclaimed tasks (of ``phase``, when
    given), and the live claims on pending tasks it passed over."""
    status_of = {t.id: t.status for t in tracker.tasks}
    skipped: list[Claim] = []
    for i, task in enumerate(tracker.tasks):
        if task.status != "pending" or (phase is not None and task.phase != phase):
            continue
        if any(d in status_of and status_of[d] not in st.SETTLED for d in deps_of(task)):
            continue
        held = cl.live(task, at) if task.extra else None
        if held is not None:
            skipped.append(held)
            continue
        return i, skipped
    return None, skipped


def claim_next(tracker: Tracker, ch: c.ClaimNext, at: str, actor: str) -> Applied:
    if ch.phase is not None:
        find_phase(tracker, ch.phase)
    i, _ = ready(tracker, at, ch.phase)
    if i is None:
        where = f" in phase {ch.phase}" if ch.phase is not None else ""
        held = cl.live_claims(tracker, at)
        busy = f" (claimed: {cl.brief(held)})" if held else ""
        raise errors.NotFound(f"No unclaimed task is ready{where}{busy}")
    task = tracker.tasks[i]
    return _take(
        tracker, i, cl.holder_of(actor), ch.lease, at, f"Claimed task {task.id}: {task.title}"
    )


def claim_task(tracker: Tracker, ch: c.ClaimTask, at: str, actor: str) -> Applied:
    holder = cl.holder_of(actor)
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    if task.status in st.SETTLED:
        raise errors.InvalidArgument(f"Task {task.id} is {task.status}: there is nothing to claim")
    held = cl.live(task, at)
    if held is not None and held.by != holder:
        if not (ch.force and holder == cl.USER):
            raise errors.Denied(f"{_held(task, held)}; only {held.by} (or the user) may take it")
        return _take(tracker, i, holder, ch.lease, at, f"Took over task {task.id} from {held.by}")
    if held is not None:
        return _take(tracker, i, holder, ch.lease, at, f"Task {task.id} is already yours; renewed")
    return _take(tracker, i, holder, ch.lease, at, f"Claimed task {task.id}: {task.title}")


def release_task(tracker: Tracker, ch: c.ReleaseTask, at: str, actor: str) -> Applied:
    holder = cl.holder_of(actor)
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    claim = cl.claim_of(task)
    if claim is None:
        return unchanged(tracker, f"Task {task.id} is not claimed.", {"id": task.id})
    held = cl.live(task, at)
    if held is not None and held.by != holder and not (ch.force and holder == cl.USER):
        raise errors.Denied(f"{_held(task, held)}; only {held.by} (or the user) may release it")
    new = _given_back(task)
    line = f"Released task {task.id}" + (f" (held by {claim.by})" if claim.by != holder else "")
    line += f"; it is {new.status}."
    return Applied(
        tracker=put(tracker, i, new, at),
        lines=[line],
        healing=[],
        result={"id": task.id, "status": new.status, "by": claim.by},
        changed=True,
    )


def _given_back(task: Task) -> Task:
    """``task`` without its claim: pending again unless settled (SPEC §12)."""
    new = cl.with_claim(task, None)
    if new.status not in st.SETTLED and new.status != "pending":
        new = replace(new, status="pending")
    return new


def renew_claims(tracker: Tracker, ch: c.RenewClaims, at: str, actor: str) -> Applied:
    holder = cl.holder_of(actor)
    mine = [
        i
        for i, t in enumerate(tracker.tasks)
        if t.extra and (h := cl.live(t, at)) is not None and h.by == holder
    ]
    if not mine:
        return unchanged(tracker, f"{holder} holds no claims.", {"renewed": [], "by": holder})
    tasks = list(tracker.tasks)
    lease = cl.lease_of(ch.lease)
    end = cl.until(at, lease)
    for i in mine:
        old = cl.claim_of(tasks[i])
        assert old is not None
        renewed = Claim(task_id=old.task_id, by=holder, since=old.since, until=end, lease=lease)
        tasks[i] = cl.with_claim(tasks[i], renewed)
    ids = [tracker.tasks[i].id for i in mine]
    return Applied(
        tracker=finish(tracker, at, tasks=tuple(tasks)),
        lines=[
            f"Renewed {plural(len(ids), 'claim')} of {holder} until {cl.shown_time(end)}: "
            + ", ".join(ids)
        ],
        healing=[],
        result={"renewed": ids, "by": holder, "until": end},
        changed=True,
    )


def expire_claims(tracker: Tracker, at: str) -> Applied:
    gone = cl.lapsed(tracker, at)
    if not gone:
        return unchanged(tracker, "No claim has expired.", {"expired": []})
    tasks = list(tracker.tasks)
    lines: list[str] = []
    for i in gone:
        task = tasks[i]
        claim = cl.claim_of(task)
        assert claim is not None
        tasks[i] = _given_back(task)
        if task.status in st.SETTLED:
            lines.append(f"Claim on task {task.id} by {claim.by} cleared ({task.status}).")
        else:
            lines.append(
                f"Claim on task {task.id} by {claim.by} expired "
                f"({cl.shown_time(claim.until)}); it is {tasks[i].status}."
            )
    return Applied(
        tracker=finish(tracker, at, tasks=tuple(tasks)),
        lines=lines,
        healing=[],
        result={"expired": [tracker.tasks[i].id for i in gone]},
        changed=True,
    )


def touched_task(change: c.Change) -> str | None:
    """The task a change of one task acts on (None for the others)."""
    match change:
        case (
            c.SetTaskStatus()
            | c.RenameTask()
            | c.MoveTask()
            | c.AddDependency()
            | c.SetVerification()
            | c.AddSubtask()
            | c.AttachEvidence()
            | c.VerifyEvidence()
        ):
            return change.task_id
        case c.SetSubtaskChecked() | c.DeleteSubtask():
            return change.subtask_id.rpartition(".")[0]
    return None


def _is_agent(actor: str) -> bool:
    """An agent's or a subagent's change (``agent:NAME``, ``subagent[:NAME]``), not the
    user's, a hand edit's, git's or wtd's own."""
    return actor.startswith(("agent:", "subagent"))


def check_holder(tracker: Tracker, change: c.Change, at: str, actor: str) -> None:
    """Denied when an agent that does not hold a live claim on a task would change its
    status, move it or delete it (SPEC §12: another agent cannot take or release a live
    claim, and completing, reopening or deleting a held task does either). The user may
    (the claim ends or stays as the change leaves it); so may the holder. Checked for
    new requests only, never on replay: the journal holds what was decided then."""
    match change:
        case c.SetTaskStatus(task_id=task_id) | c.MoveTask(task_id=task_id):
            pass
        case c.DeleteTask(task_id=task_id):
            pass
        case c.SetPhaseTasks(number=number, status=status):
            if _is_agent(actor):
                _check_bulk(tracker, number, status, at, actor)
            return
        case _:
            return
    if not _is_agent(actor):
        return
    try:
        task = tracker.tasks[find_task(tracker, task_id)]
    except errors.NotFound:
        return  # the change itself says so
    held = cl.live(task, at) if task.extra else None
    if held is None or held.by == cl.holder_of(actor):
        return
    raise errors.Denied(
        f"{_held(task, held)}; only {held.by} (or the user) may change its status, move "
        f"or delete it. Claim another task (claim next), or ask {held.by} to release it"
    )


def check_patch_holder(before: Tracker, after: Tracker, at: str, actor: str) -> None:
    """Denied when an agent's ``undo`` would change the status, the phase or the claim
    of a task (or delete it) that another agent holds under a live claim: undoing that
    agent's claim, or its last change to its task, takes or releases the claim as the
    same change made directly would (SPEC §12)."""
    if not _is_agent(actor):
        return
    me = cl.holder_of(actor)
    held = {
        t.id: (t, claim)
        for t in before.tasks
        if t.extra and (claim := cl.live(t, at)) is not None and claim.by != me
    }
    if not held:
        return
    now = {t.id: t for t in after.tasks if t.id in held}
    for task_id, (task, claim) in held.items():
        new = now.get(task_id)
        if (
            new is None
            or new.status != task.status
            or new.phase != task.phase
            or cl.claim_of(new) != cl.claim_of(task)
        ):
            raise errors.Denied(
                f"{_held(task, claim)}; only {claim.by} (or the user) may undo a change that "
                f"changes its status, moves or deletes it, or takes its claim. Ask "
                f"{claim.by} to release it"
            )


def _check_bulk(tracker: Tracker, number: int, status: str, at: str, actor: str) -> None:
    """A bulk change (``mark phase N S``) by an agent changes the status of every task
    of the phase: denied when one it would change is held by another agent's live claim,
    as the same change made task by task would be."""
    me = cl.holder_of(actor)
    for task in tracker.tasks:
        if task.phase != number or task.status == status or not task.extra:
            continue
        held = cl.live(task, at)
        if held is not None and held.by != me:
            raise errors.Denied(
                f"{_held(task, held)}; only {held.by} (or the user) may change its status, "
                f"so phase {number}'s tasks cannot all be marked {status}. Change the "
                f"others one by one, or ask {held.by} to release it"
            )


def renewed(applied: Applied, change: c.Change, at: str, actor: str) -> Applied:
    """``applied`` with the claim on the task it changed brought up to date: renewed
    when the holder made the change (SPEC §12), cleared when the task settled."""
    if isinstance(change, c.SetPhaseTasks) and applied.changed:
        return _settled_in_bulk(applied, change.number, at)
    task_id = touched_task(change) if applied.changed else None
    if task_id is None:
        return applied
    tracker = applied.tracker
    try:
        i = find_task(tracker, task_id)
    except errors.NotFound:  # a sub-task whose task is missing
        return applied
    task = tracker.tasks[i]
    claim = cl.claim_of(task) if task.extra else None
    if claim is None:
        return applied
    if task.status in st.SETTLED:
        new = cl.with_claim(task, None)
    elif cl.live(task, at) is not None and claim.by == cl.holder_of(actor):
        end = cl.until(at, claim.lease)
        new = cl.with_claim(
            task,
            Claim(task_id=task.id, by=claim.by, since=claim.since, until=end, lease=claim.lease),
        )
    else:
        return applied
    return Applied(
        tracker=put(tracker, i, new, at),
        lines=applied.lines,
        healing=applied.healing,
        result=applied.result,
        changed=True,
    )


def _settled_in_bulk(applied: Applied, number: int, at: str) -> Applied:
    """``mark phase N complete`` (or skipped) settles every task of the phase: their
    claims end with them, as a task settled on its own does."""
    tracker = applied.tracker
    for i, task in enumerate(tracker.tasks):
        if (
            task.phase == number
            and task.extra
            and task.status in st.SETTLED
            and cl.claim_of(task) is not None
        ):
            tracker = put(tracker, i, cl.with_claim(task, None), at)
    if tracker is applied.tracker:
        return applied
    return replace(applied, tracker=tracker)
