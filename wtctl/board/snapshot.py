"""What the board shows, asked of wtd with read-only phrases (it writes nothing).

Per tracker: ``show progress`` (overall and per phase), ``list tasks`` (statuses),
``list claims`` (who holds what; merged into the tasks) and ``history`` (the
journal's last changes, each with the overall progress it left: the chart's
points). The trackers are those ``list trackers`` names, or the one ``--tracker``
named. Every value is plain JSON, as the page reads it.
"""

from __future__ import annotations

from typing import Any

from wtctl.aio import Client
from wtd import wire


class Refused(Exception):
    """wtd answered a board's question with an error (the tracker may be gone)."""


class Source:
    """The board's questions to wtd, over one ``Client`` (requests one at a time)."""

    def __init__(self, client: Client, workspace: str, only: str | None = None) -> None:
        self.client = client
        self.workspace = workspace
        self.only = only  # the tracker --tracker named, else every tracker of the workspace

    async def ask(self, phrase: str, tracker: str | None = None) -> dict[str, Any]:
        request = wire.request(phrase, cwd=self.workspace, tracker=tracker)
        reply = await self.client.request(request, retries=2)
        if not wire.ok(reply):
            raise Refused(wire.error_message(reply) or f"{phrase!r} failed")
        return reply

    async def tracker_names(self) -> list[str]:
        if self.only is not None:
            return [self.only]
        found = wire.result(await self.ask("list trackers"))
        if not isinstance(found, list):
            return []
        # the trackers wtd serves: not a README beside the views, nor a plan not
        # imported yet (asking its progress would import it: the board writes nothing)
        return [
            str(t["name"])
            for t in found
            if isinstance(t, dict) and "error" not in t and t.get("imported", True)
        ]

    async def tracker(self, name: str) -> dict[str, Any]:
        """One tracker as the page draws it."""
        progress = await self.ask("show progress", name)
        tasks = wire.result(await self.ask("list tasks", name)) or []
        claims = wire.result(await self.ask("list claims", name)) or []
        history = wire.result(await self.ask("history", name)) or []
        return tracker_view(name, progress, tasks, claims, history)

    async def everything(self) -> dict[str, Any]:
        trackers = []
        for name in await self.tracker_names():
            try:
                trackers.append(await self.tracker(name))
            except Refused:
                continue  # deleted between the list and the question
        return {"workspace": self.workspace, "trackers": trackers}


def tracker_view(
    name: str,
    progress: dict[str, Any],
    tasks: list[dict[str, Any]],
    claims: list[dict[str, Any]],
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """The page's model of one tracker, from the four replies' results."""
    held = {str(c.get("id")): c for c in claims if isinstance(c, dict)}
    rows = []
    for task in tasks:
        claim = held.get(str(task.get("id")))
        rows.append(
            {
                "id": task.get("id"),
                "name": task.get("name"),
                "phase": task.get("phase"),
                "status": task.get("status"),
                "claim": {"by": claim.get("by"), "until": claim.get("until")} if claim else None,
            }
        )
    points = [
        {"at": row["at"], "progress": row["progress"], "actor": row.get("actor", "")}
        for row in history
        if isinstance(row, dict) and isinstance(row.get("progress"), int) and row.get("at")
    ]
    return {
        "name": name,
        "label": wire.tracker(progress) or name,
        "progress": wire.result_dict(progress),
        "tasks": rows,
        "history": points,
    }
