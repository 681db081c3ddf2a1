"""Claims (SPEC §12): who is working on a task, and until when. Pure: no I/O, no clock.

A claim lives in the task's ``extra`` under ``x_claim`` — a field the v2 schema
does not know, so it is kept like any unknown field and the tracker stays valid::

    "x_claim": {"by": "agent-1", "since": "2026-…Z", "until": "2026-…Z", "lease": 1800.0}

``by`` is the holder (the agent's name, or ``user``); ``until`` is when the lease
ends; ``lease`` is its length in seconds, so a renewal by any change of the holder
is decided from the tracker alone (replaying the journal gives the same result).
A claim is *live* while its lease has not ended and its task is not settled
(complete, skipped, superseded). Times are wtd's ISO-8601 UTC strings of one fixed
shape, so they compare as strings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from wtd.tracker import status as st
from wtd.tracker.model import Task, Tracker

CLAIM: Final = "x_claim"
DEFAULT_LEASE: Final = 1800.0
_SHAPE: Final = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z"
)
"""Seconds (30 min): the lease of a claim whose command carries none."""
USER: Final = "user"


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    by: str
    since: str
    until: str
    lease: float

    def as_dict(self) -> dict[str, Any]:
        return {"by": self.by, "since": self.since, "until": self.until, "lease": self.lease}


def holder_of(actor: str) -> str:
    """The claimer an actor stands for: ``agent:NAME`` and ``subagent:NAME`` → NAME;
    ``user``, ``subagent`` and wtd's own actors as they are."""
    return actor.partition(":")[2] or actor


def claim_of(task: Task) -> Claim | None:
    """The claim recorded on ``task`` (live or not), None when there is none or the
    field holds something that is not a claim (then it is left alone)."""
    raw = task.extra.get(CLAIM) if task.extra else None
    if not isinstance(raw, dict):
        return None
    by, since, until, lease = raw.get("by"), raw.get("since"), raw.get("until"), raw.get("lease")
    if not (isinstance(by, str) and by and isinstance(until, str) and until):
        return None
    end = _normal(until)
    if end is None:  # not a time: not a claim wtd can judge (kept, never acted on)
        return None
    return Claim(
        task_id=task.id,
        by=by,
        since=since if isinstance(since, str) else end,
        until=end,
        lease=float(lease) if isinstance(lease, int | float) and lease > 0 else DEFAULT_LEASE,
    )


def _normal(at: str) -> str | None:
    """``at`` in wtd's one shape (so times compare as strings), None if not a time."""
    if _SHAPE.fullmatch(at) is not None:
        return at  # already wtd's shape (the usual case: no parsing)
    try:
        moment = parse(at)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return stamp(moment)
    except (ValueError, OverflowError):  # e.g. year 1 at +14:00: before any UTC time
        return None


def live(task: Task, at: str) -> Claim | None:
    """The claim on ``task`` if it is live at ``at``."""
    claim = claim_of(task)
    if claim is None or claim.until <= at or task.status in st.SETTLED:
        return None
    return claim


def live_claims(tracker: Tracker, at: str) -> list[Claim]:
    """Every live claim, in task order."""
    return [c for t in tracker.tasks if t.extra and (c := live(t, at)) is not None]


def lapsed(tracker: Tracker, at: str) -> list[int]:
    """The indexes of the tasks holding a claim that is no longer live at ``at``."""
    return [
        i
        for i, t in enumerate(tracker.tasks)
        if t.extra and claim_of(t) is not None and live(t, at) is None
    ]


def next_expiry(tracker: Tracker) -> str | None:
    """When the first recorded claim ends (None: nothing is claimed)."""
    ends = [c.until for t in tracker.tasks if t.extra and (c := claim_of(t)) is not None]
    return min(ends) if ends else None


def stamp(moment: datetime) -> str:
    """wtd's ISO-8601 UTC shape (the one ``at`` has; four-digit years, which
    ``strftime`` does not pad)."""
    m = moment.astimezone(UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
        f"{m.second:02d}.{m.microsecond:06d}Z"
    )


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


LAST: Final = "9999-12-31T23:59:59.999999Z"


def until(at: str, lease: float) -> str:
    """``lease`` seconds after ``at`` (a lease past the year 9999 ends there)."""
    try:
        return stamp(parse(at) + timedelta(seconds=lease))
    except OverflowError:
        return LAST


def lease_of(seconds: float) -> float:
    return seconds if seconds > 0 else DEFAULT_LEASE


def made(task_id: str, by: str, at: str, lease: float) -> Claim:
    lease = lease_of(lease)
    return Claim(task_id=task_id, by=by, since=at, until=until(at, lease), lease=lease)


def with_claim(task: Task, claim: Claim | None) -> Task:
    """``task`` holding ``claim`` (None: its claim removed)."""
    extra = {k: v for k, v in task.extra.items() if k != CLAIM}
    if claim is not None:
        extra[CLAIM] = claim.as_dict()
    return msgspec.structs.replace(task, extra=extra)


def shown_time(at: str) -> str:
    """``2026-01-20 14:05:03Z``: an ``until`` as people read it (to the second)."""
    return at[:19].replace("T", " ") + "Z" if len(at) >= 19 else at


def brief(claims: list[Claim], limit: int = 3) -> str:
    """``1.1 (agent-1), 1.2 (agent-2) and 3 more``."""
    shown = ", ".join(f"{c.task_id} ({c.by})" for c in claims[:limit])
    more = f" and {len(claims) - limit} more" if len(claims) > limit else ""
    return shown + more
