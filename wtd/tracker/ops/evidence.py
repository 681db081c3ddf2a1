"""Evidence: attaching it to a task and verifying it, with ids that replay the same."""

from __future__ import annotations

import difflib
import hashlib
from typing import Any

from msgspec.structs import replace

from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker.model import Tracker
from wtd.tracker.ops.common import Applied, evidence_of, is_verified, plural, unchanged
from wtd.tracker.ops.lookup import find_task
from wtd.tracker.ops.progress import put


def evidence_id(task_id: str, at: str, text: str, count: int) -> str:
    """Deterministic evidence id: replaying the journal yields the same ids."""
    digest = hashlib.sha256(f"{task_id}\x00{at}\x00{text}\x00{count}".encode()).hexdigest()
    return f"ev_{digest[:8]}"


def attach_evidence(tracker: Tracker, ch: c.AttachEvidence, at: str, actor: str) -> Applied:
    if ch.type not in c.EVIDENCE_TYPES:
        raise errors.InvalidArgument(
            f"Unknown evidence type '{ch.type}' (expected one of: {', '.join(c.EVIDENCE_TYPES)})",
            suggestions=difflib.get_close_matches(ch.type, c.EVIDENCE_TYPES, n=3, cutoff=0.6),
        )
    text = ch.text.strip()
    if not text:
        raise errors.InvalidArgument("Evidence text cannot be empty")
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    existing = evidence_of(task)
    taken = {e.get("id") for e in existing}
    count = len(existing)
    ev_id = evidence_id(task.id, at, text, count)
    while ev_id in taken:
        count += 1
        ev_id = evidence_id(task.id, at, text, count)
    entry: dict[str, Any] = {
        "id": ev_id,
        "type": ch.type,
        "timestamp": at,
        "content": text,
        "verification_status": "pending",
        "collected_by": actor,
    }
    if ch.type == "file_reference":
        entry["file_path"] = text
    new = replace(task, evidence=(*existing, entry))
    total = len(existing) + 1
    return Applied(
        tracker=put(tracker, i, new, at),
        lines=[
            f"Attached {ch.type} evidence {ev_id} to task {task.id}"
            f" ({plural(total, 'evidence item')})"
        ],
        healing=[],
        result={"task": task.id, "evidence": ev_id, "type": ch.type, "count": total},
        changed=True,
    )


def verify_evidence(tracker: Tracker, ch: c.VerifyEvidence, at: str, actor: str) -> Applied:
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    existing = evidence_of(task)
    if not existing:
        raise errors.InvalidArgument(
            f"Task {task.id} has no evidence to verify",
            suggestions=[f'attach evidence to task {task.id}: manual_note "..."'],
        )
    todo = sum(1 for e in existing if not is_verified(e))
    result = {"task": task.id, "verified": todo, "total": len(existing)}
    if not todo:
        return unchanged(
            tracker,
            f"All {plural(len(existing), 'evidence item')} of task {task.id} already verified.",
            result,
        )
    stamped = {"verification_status": "verified", "verified_by": actor, "verified_at": at}
    evidence = tuple(
        e if is_verified(e) else {**e, **stamped, **({"verified": True} if "verified" in e else {})}
        for e in existing
    )
    new = replace(task, evidence=evidence)
    return Applied(
        tracker=put(tracker, i, new, at),
        lines=[f"Verified {plural(todo, 'evidence item')} of task {task.id}"],
        healing=[],
        result=result,
        changed=True,
    )
