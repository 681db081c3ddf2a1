"""The REPL's bottom toolbar: tracker, progress, the caller's claims, health and
circuit state.

``Status`` is a value the REPL replaces after each refresh (from the ``show
progress`` reply with ``show_health``); ``render`` turns it into styled text and
never does I/O, so drawing the toolbar can never block typing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from prompt_toolkit.formatted_text import StyleAndTextTuples

from wtd import wire


@dataclass(frozen=True)
class Status:
    tracker: str = ""
    missing: str = ""  # why the pinned tracker is not there ("deleted", "not found"); "" = it is
    progress: int | None = None
    complete: int = 0
    total: int = 0
    health: str = ""  # HEALTHY / DEGRADED / … ("" = not known yet)
    success_rate: float | None = None
    open_circuits: tuple[str, ...] = ()
    connected: bool = True
    claims: tuple[str, ...] = ()  # the task ids the caller holds a claim on (SPEC §12)


def with_claims(status: Status, reply: dict[str, Any], holder: str) -> Status:
    """``status`` with the caller's claims, from a ``list claims`` reply (``holder``:
    the caller's agent name, or ``user``); kept as it was when the reply failed."""
    result = wire.result(reply)
    if not wire.ok(reply) or not isinstance(result, list):
        return status
    mine = tuple(
        str(row.get("id"))
        for row in result
        if isinstance(row, dict) and row.get("by") == holder and row.get("id")
    )
    return replace(status, claims=mine)


def with_progress(status: Status, reply: dict[str, Any]) -> Status:
    """``status`` updated from a ``show progress`` reply (health too if it carries it)."""
    result = wire.result(reply)
    if wire.ok(reply) and isinstance(result, dict):
        status = replace(
            status,
            tracker=wire.tracker(reply) or status.tracker,
            progress=_int(result.get("overall")),
            complete=_int(result.get("complete")) or 0,
            total=_int(result.get("total")) or 0,
        )
    health = wire.health(reply)
    if isinstance(health, dict):
        status = with_health(status, health)
    return replace(status, connected=True)


def with_health(status: Status, health: dict[str, Any]) -> Status:
    rate = health.get("success_rate")
    return replace(
        status,
        health=str(health.get("overall", "")),
        success_rate=float(rate) if isinstance(rate, int | float) else None,
        open_circuits=tuple(str(c) for c in health.get("open_circuits") or ()),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def render(status: Status) -> StyleAndTextTuples:
    """The toolbar's text: `` docs/plans/x.md │ 44% (4/9) │ HEALTHY 100% │ circuits CLOSED ``."""
    sep = ("class:toolbar.sep", " │ ")
    parts: StyleAndTextTuples = [("class:toolbar.tracker", f" {status.tracker or '(no tracker)'}")]
    if status.missing:
        parts.append(("class:toolbar.bad", f" ({status.missing})"))
    parts.append(sep)
    if status.missing or not status.tracker:
        parts.append(("class:toolbar", "progress —"))
    elif status.progress is None:
        parts.append(("class:toolbar", "progress …"))
    else:
        parts.append(
            ("class:toolbar.progress", f"{status.progress}% ({status.complete}/{status.total})")
        )
    if status.claims and status.tracker and not status.missing:
        shown = ", ".join(status.claims[:3]) + (" …" if len(status.claims) > 3 else "")
        parts += [sep, ("class:toolbar", f"claimed {shown}")]
    parts.append(sep)
    if not status.connected:
        parts.append(("class:toolbar.bad", "wtd unreachable"))
        return parts
    if status.health:
        style = "class:toolbar.good" if status.health == "HEALTHY" else "class:toolbar.warn"
        rate = "" if status.success_rate is None else f" {status.success_rate:.0%}"
        parts.append((style, f"{status.health}{rate}"))
    else:
        parts.append(("class:toolbar", "health …"))
    parts.append(sep)
    if status.open_circuits:
        parts.append(("class:toolbar.bad", "circuit OPEN: " + ", ".join(status.open_circuits)))
    else:
        parts.append(("class:toolbar.good", "circuits CLOSED"))
    parts.append(("class:toolbar", " "))
    return parts
