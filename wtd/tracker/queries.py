"""Answering a query from a tracker value: ``answer(tracker, query) -> Answer``.

Pure: no I/O, no clock: the caller passes ``at`` (ISO-8601 UTC), the moment claims
are judged live at (SPEC §12; "" counts every recorded claim as live). Progress is
always derived from the tasks, never read from the stored ``progress`` fields.
Unknown task or phase IDs raise ``errors.NotFound`` naming the nearest existing ones
(the helpers live in ``ops``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, assert_never

import msgspec

from wtd import errors
from wtd.tracker import claims as cl
from wtd.tracker import model, ops
from wtd.tracker import status as st
from wtd.tracker.commands import (
    ListClaims,
    ListTasks,
    ShowNext,
    ShowPhase,
    ShowProgress,
    ShowRemaining,
    ShowTask,
)
from wtd.tracker.model import Task, Tracker

TrackerQuery = (
    ShowProgress | ShowRemaining | ShowNext | ShowTask | ShowPhase | ListTasks | ListClaims
)


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """What to show (``lines``) and the same facts for machines (``result``)."""

    lines: list[str]
    result: dict[str, Any] | list[Any]


def answer(tracker: Tracker, query: TrackerQuery, *, at: str = "") -> Answer:
    """Answer ``query`` about ``tracker``. Raises errors.NotFound / InvalidArgument."""
    match query:
        case ShowProgress():
            return _progress(tracker)
        case ShowRemaining():
            return _remaining(tracker)
        case ShowNext():
            return _next(tracker, at)
        case ShowTask():
            return _task(tracker, query.task_id, at)
        case ShowPhase():
            return _phase(tracker, query.number)
        case ListTasks():
            return _list(tracker, query.phase, query.status)
        case ListClaims():
            return _claims(tracker, at)
        case _:
            assert_never(query)


# ------------------------------------------------------------------ helpers


def _percent(done: int, counted: int) -> int:
    return round(100 * done / counted) if counted else 0


def _label(status: str) -> str:
    return st.cell(status)


def task_line(task: Task, width: int = 0, indent: str = "  ") -> str:
    """``  2.2  Render Markdown view  🔄 In Progress`` (IDs padded to ``width``)."""
    return f"{indent}{task.id:<{width}}  {task.title}  {_label(task.status)}"


def _task_lines(tasks: Sequence[Task], indent: str = "  ") -> list[str]:
    width = max((len(t.id) for t in tasks), default=0)
    return [task_line(t, width, indent) for t in tasks]


def _task_dict(task: Task) -> dict[str, Any]:
    return {"id": task.id, "name": task.title, "phase": task.phase, "status": task.status}


def _by_phase(tracker: Tracker, tasks: Iterable[Task]) -> list[tuple[int, str, list[Task]]]:
    """``tasks`` grouped by phase: phases in tracker order, then phases nobody declared."""
    groups: dict[int, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.phase, []).append(task)
    out = [(p.number, p.name, groups.pop(p.number)) for p in tracker.phases if p.number in groups]
    out += [(n, "", ts) for n, ts in sorted(groups.items())]
    return out


def _phase_header(number: int, name: str) -> str:
    return f"Phase {number}: {name}" if name else f"Phase {number}"


# ------------------------------------------------------------------ queries


def _progress(tracker: Tracker) -> Answer:
    counts = ops.counts_of(tracker.tasks)
    done = sum(a for a, _ in counts.values())
    counted = sum(b for _, b in counts.values())
    overall = _percent(done, counted)
    lines = [f"Overall progress: {overall}%"]
    phases: list[dict[str, Any]] = []
    for p in tracker.phases:
        a, b = counts.get(p.number, (0, 0))
        pct = _percent(a, b)
        lines.append(f"  Phase {p.number}: {p.name} — {pct}% ({a}/{b}) {_label(p.status)}")
        phases.append(
            {
                "number": p.number,
                "name": p.name,
                "status": p.status,
                "progress": pct,
                "complete": a,
                "total": b,
            }
        )
    return Answer(
        lines=lines,
        result={"overall": overall, "complete": done, "total": counted, "phases": phases},
    )


def _remaining(tracker: Tracker) -> Answer:
    todo = [t for t in tracker.tasks if t.status not in st.SETTLED]
    if not todo:
        return Answer(
            lines=["Nothing remaining — all tasks are complete."],
            result={"count": 0, "tasks": []},
        )
    lines = [f"Remaining: {len(todo)} task{'' if len(todo) == 1 else 's'}"]
    for number, name, tasks in _by_phase(tracker, todo):
        lines.append(_phase_header(number, name))
        lines += _task_lines(tasks)
    return Answer(lines=lines, result={"count": len(todo), "tasks": [_task_dict(t) for t in todo]})


def _next(tracker: Tracker, at: str) -> Answer:
    """The first pending task whose dependencies are settled and that nobody claimed;
    the claimed ones passed over are named briefly."""
    skipped: list[cl.Claim] = []
    found = _first_ready(tracker, at, skipped)
    if skipped:
        found.lines.append(f"  Skipped, claimed: {cl.brief(skipped)}")
        if isinstance(found.result, dict):
            found.result["claimed"] = _held(skipped)
    return found


def _first_ready(tracker: Tracker, at: str, skipped: list[cl.Claim]) -> Answer:
    status_of = {t.id: t.status for t in tracker.tasks}
    waiting: list[tuple[Task, list[str]]] = []
    for task in tracker.tasks:
        if task.status != "pending":
            continue
        if task.extra and (held := cl.live(task, at)) is not None:
            skipped.append(held)
            continue
        # A dependency that is settled (or no longer exists) does not hold a task back.
        open_deps = [
            d
            for d in (task.dependencies if isinstance(task.dependencies, tuple) else ())
            if d in status_of and status_of[d] not in st.SETTLED
        ]
        if not open_deps:
            phase = tracker.phase(task.phase)
            where = f" (phase {task.phase}: {phase.name})" if phase else f" (phase {task.phase})"
            return Answer(
                lines=[f"Next: {task.id} {task.title}{where}"],
                result={"task": _task_dict(task), "waiting": []},
            )
        waiting.append((task, open_deps))
    result: dict[str, Any] = {
        "task": None,
        "waiting": [{"id": t.id, "waits_on": deps} for t, deps in waiting],
    }
    if waiting:
        why = "; ".join(
            f"{t.id} waits on " + ", ".join(f"{d} ({status_of[d]})" for d in deps)
            for t, deps in waiting[:3]
        )
        more = f" (and {len(waiting) - 3} more)" if len(waiting) > 3 else ""
        return Answer(lines=[f"No task is ready: {why}{more}"], result=result)
    active = [t for t in tracker.tasks if t.status not in st.SETTLED]
    if active:
        listed = ", ".join(f"{t.id} ({t.status})" for t in active[:5])
        more = f" and {len(active) - 5} more" if len(active) > 5 else ""
        return Answer(lines=[f"No pending task; still open: {listed}{more}"], result=result)
    return Answer(lines=["Nothing next — all tasks are complete."], result=result)


def _held(claims: list[cl.Claim]) -> list[dict[str, Any]]:
    return [{"id": c.task_id, "by": c.by, "until": c.until} for c in claims]


def _task(tracker: Tracker, task_id: str, at: str) -> Answer:
    task = tracker.tasks[ops.find_task(tracker, task_id)]
    phase = tracker.phase(task.phase)
    status_of = {t.id: t.status for t in tracker.tasks}
    deps = task.dependencies if isinstance(task.dependencies, tuple) else ()
    subs = tracker.subtasks_of(task.id)
    evidence = task.evidence if isinstance(task.evidence, tuple) else ()
    verified = sum(1 for e in evidence if e.get("verification_status") == "verified")
    verification = task.verification if isinstance(task.verification, str) else None
    description = task.description if isinstance(task.description, str) else None
    reason = task.extra.get("blocked_reason")

    lines = [f"Task {task.id}: {task.title}"]
    lines.append(f"  Phase: {task.phase}" + (f" ({phase.name})" if phase else ""))
    lines.append(f"  Status: {_label(task.status)}")
    if isinstance(reason, str) and task.status == "blocked":
        lines.append(f"  Blocked because: {reason}")
    claim = cl.live(task, at) if task.extra else None
    if claim is not None:
        lines.append(f"  Claimed by: {claim.by} until {cl.shown_time(claim.until)}")
    lines.append(f"  Verification: {verification or '—'}")
    if deps:
        shown = ", ".join(f"{d} ({status_of.get(d, 'missing')})" for d in deps)
        lines.append(f"  Depends on: {shown}")
    if subs:
        lines.append(f"  Sub-tasks: {sum(s.done for s in subs)}/{len(subs)} done")
        lines += [f"    - [{'x' if s.done else ' '}] {s.id}: {s.name}" for s in subs]
    if evidence:
        lines.append(f"  Evidence: {len(evidence)} item(s), {verified} verified")
        for e in evidence:
            text = str(e.get("content") or e.get("output") or e.get("note") or e.get("file") or "")
            short = text if len(text) <= 60 else text[:57] + "..."
            state = e.get("verification_status", "pending")
            lines.append(f"    - {e.get('type', '?')}: {short} ({state})")
    if description and description != task.title:
        lines.append(f"  Description: {description}")
    return Answer(
        lines=lines,
        result={
            **_task_dict(task),
            "phase_name": phase.name if phase else None,
            "verification": verification,
            "description": description,
            "blocked_reason": reason if isinstance(reason, str) else None,
            "dependencies": [{"id": d, "status": status_of.get(d)} for d in deps],
            "subtasks": [{"id": s.id, "name": s.name, "completed": s.done} for s in subs],
            "evidence": {"count": len(evidence), "verified": verified},
            "claim": (
                {"by": claim.by, "since": claim.since, "until": claim.until}
                if claim is not None
                else None
            ),
        },
    )


def _phase(tracker: Tracker, number: int) -> Answer:
    phase = tracker.phases[ops.find_phase(tracker, number)]
    tasks = [t for t in tracker.tasks if t.phase == number]
    done, counted = model.counts(tasks)
    pct = _percent(done, counted)
    lines = [
        f"Phase {phase.number}: {phase.name}",
        f"  Status: {_label(phase.status)}",
        f"  Progress: {pct}% ({done}/{counted})",
    ]
    if isinstance(phase.description, str) and phase.description:
        lines.append(f"  Description: {phase.description}")
    lines.append(f"  Tasks: {len(tasks)}" if tasks else "  Tasks: none")
    lines += _task_lines(tasks, indent="    ")
    return Answer(
        lines=lines,
        result={
            "number": phase.number,
            "name": phase.name,
            "status": phase.status,
            "progress": pct,
            "complete": done,
            "total": counted,
            "tasks": [_task_dict(t) for t in tasks],
        },
    )


def _list(tracker: Tracker, phase: int | None, status: str | None) -> Answer:
    if status is not None and not st.is_canonical(status):
        raise errors.InvalidArgument(
            f"Invalid status '{status}' (expected one of: {', '.join(st.STATUSES)})",
            suggestions=st.suggest(status),
        )
    if phase is not None:
        ops.find_phase(tracker, phase)
    tasks = [
        t
        for t in tracker.tasks
        if (phase is None or t.phase == phase) and (status is None or t.status == status)
    ]
    if not tasks:
        return Answer(lines=["No tasks match."], result=[])
    return Answer(lines=_task_lines(tasks), result=[_task_dict(t) for t in tasks])


def _claims(tracker: Tracker, at: str) -> Answer:
    claims = cl.live_claims(tracker, at)
    if not claims:
        return Answer(lines=["No task is claimed."], result=[])
    width = max(len(c.task_id) for c in claims)
    ids = {c.task_id for c in claims}
    titles = {t.id: t.title for t in tracker.tasks if t.id in ids}
    lines = [f"Claims: {len(claims)}"]
    lines += [
        f"  {c.task_id:<{width}}  {c.by}  until {cl.shown_time(c.until)}  {titles[c.task_id]}"
        for c in claims
    ]
    return Answer(
        lines=lines,
        result=[
            {
                "id": c.task_id,
                "name": titles[c.task_id],
                "by": c.by,
                "since": c.since,
                "until": c.until,
            }
            for c in claims
        ],
    )
