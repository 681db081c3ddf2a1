"""Retried requests (SPEC §6: every request kind is at most once).

Each episode works on a scratch tracker of its own in the main workspace (a copy of
the example that no other client, hand edit or check touches), so what the ledger
of the episode expects is exact: a raw client sends a request with one id, then the
same id 1-3 times more, on the same connection, on a new one, or after ``kill -9``
and a restart. Every retry's reply must equal the first (ok, exit code, result,
error, lines) and the files must show the change applied once:

- ``retry-undo``: two renames of task 1.1, then ``undo``: only the second is undone;
- ``retry-delete-restore``: ``delete tracker`` then ``restore tracker NAME``: one
  trash entry, then none, and the tracker back as it was;
- ``retry-initiative``: ``create initiative N``: exactly one ``NN-*`` tracker.

A first reply that is a failure (an injected fault) ends the episode unjudged.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.torture.clients import command
from tests.torture.daemon import EXAMPLE
from tests.torture.scenarios import Context, Requester

COMPARED = ("ok", "exit_code", "result", "error", "lines")


class Retries:
    NAMES = ("retry-undo", "retry-delete-restore", "retry-initiative")

    def __init__(self, ctx: Context, seed: int) -> None:
        self.ctx = ctx
        self.rng = random.Random(seed)
        self.requester = Requester(ctx, "retry")
        self.n = 0
        self.initiative = 40 + self.rng.randrange(20)

    def episodes(self) -> dict[str, Callable[[], None]]:
        return {
            "retry-undo": self.undo,
            "retry-delete-restore": self.delete_restore,
            "retry-initiative": self.initiative_once,
        }

    # ------------------------------------------------------------ helpers

    def _rid(self, what: str) -> str:
        return f"retry-{what}-{os.urandom(6).hex()}"

    def _scratch(self, prefix: str) -> tuple[str, Path]:
        """A fresh tracker (name, JSON path) in the main workspace, copied by hand."""
        self.n += 1
        name = f"{prefix}-{self.n}"
        path = self.ctx.ws.ecw / "plans" / f"{name}.json"
        tmp = path.with_name(f".{name}.torture-tmp")
        shutil.copy(EXAMPLE, tmp)
        os.replace(tmp, path)
        return name, path

    def _change(self, tracker: Path, phrase: str) -> bool:
        reply = self.requester.send(command(self._rid("setup"), phrase, self.ctx.ws.root, tracker))
        return bool(reply and reply.get("ok"))

    def _retry(
        self, scenario: str, message: dict[str, Any], first: dict[str, Any], times: int
    ) -> list[str]:
        """Send ``message`` again ``times`` times; report replies that differ from ``first``."""
        hows = []
        for n in range(1, times + 1):
            how = self.rng.choice(("same connection", "new connection", "after kill -9"))
            hows.append(how)
            if how == "after kill -9":
                with self.ctx.quiet.shared():
                    self.ctx.keeper.restart("")
            again = self.requester.send(message, fresh=how != "same connection")
            if again is None:
                self.ctx.fail(
                    scenario,
                    f"retry #{n} ({how}) of {message['phrase']!r} (id {message['id']}) got no "
                    "reply within 40s",
                )
                continue
            differs = [k for k in COMPARED if again.get(k) != first.get(k)]
            if differs:
                self.ctx.fail(
                    scenario,
                    f"retry #{n} ({how}) of {message['phrase']!r} with the same id was answered "
                    f"differently ({', '.join(differs)}): first "
                    f"{_brief(first)}, then {_brief(again)}",
                )
        return hows

    def _tracker(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _skip(self) -> None:
        self.ctx.counts["retry-skipped"] += 1

    # ------------------------------------------------------------ episodes

    def undo(self) -> None:
        scenario = "retry-undo"
        name, path = self._scratch("undo")
        a, b = f"undo-{self.n}-first", f"undo-{self.n}-second"
        if not (
            self._change(path, f"rename task 1.1 to {a}")
            and self._change(path, f"rename task 1.1 to {b}")
        ):
            return self._skip()
        message = command(self._rid("undo"), "undo", self.ctx.ws.root, path)
        first = self.requester.send(message)
        if first is None or not first.get("ok"):
            return self._skip()
        times = self.rng.randint(2, 3)
        hows = self._retry(scenario, message, first, times)
        self.ctx.counts[scenario] += 1
        self._change(path, "sync")
        data = self._tracker(path)
        task = next((t for t in (data or {}).get("tasks", []) if t.get("id") == "1.1"), None)
        got = task.get("name") if task else None
        if got != a:
            self.ctx.fail(
                scenario,
                f"'undo' sent {times + 1} times with one id ({', '.join(hows)}) on tracker "
                f"{name}: task 1.1 is named {got!r}, expected {a!r} (exactly one change, the "
                f"rename to {b!r}, undone)",
            )

    def delete_restore(self) -> None:
        scenario = "retry-delete-restore"
        ws = self.ctx.ws
        name, path = self._scratch("delres")
        value = f"delres-{self.n}-kept"
        if not self._change(path, f"rename task 1.1 to {value}"):
            return self._skip()
        trash = ws.ecw / "trash"
        message = command(self._rid("delete"), "delete tracker", ws.root, path, skip_consent=True)
        first = self.requester.send(message)
        if first is None or not first.get("ok"):
            return self._skip()
        hows = self._retry(scenario, message, first, self.rng.randint(1, 2))
        self.ctx.counts[scenario] += 1
        entries = _trash_entries(trash, name)
        if path.exists() or len(entries) != 1:
            self.ctx.fail(
                scenario,
                f"'delete tracker' of {name} sent {len(hows) + 1} times with one id "
                f"({', '.join(hows)}): JSON {'still there' if path.exists() else 'gone'}, "
                f"{len(entries)} trash entries (expected gone and 1)",
            )
        message = command(
            self._rid("restore"), f"restore tracker {name}", ws.root, None, skip_consent=True
        )
        first = self.requester.send(message)
        if first is None or not first.get("ok"):
            if first is not None and not path.exists():
                self.ctx.fail(
                    scenario,
                    f"'restore tracker {name}' after a delete failed: {_brief(first)}",
                )
            return
        hows = self._retry(scenario, message, first, self.rng.randint(1, 2))
        entries = _trash_entries(trash, name)
        data = self._tracker(path)
        task = next((t for t in (data or {}).get("tasks", []) if t.get("id") == "1.1"), None)
        if entries or task is None or task.get("name") != value:
            self.ctx.fail(
                scenario,
                f"'restore tracker {name}' sent {len(hows) + 1} times with one id "
                f"({', '.join(hows)}): {len(entries)} trash entries left (expected 0), task 1.1 "
                f"is {task.get('name') if task else 'missing'!r} (expected {value!r})",
            )

    def initiative_once(self) -> None:
        scenario = "retry-initiative"
        ws = self.ctx.ws
        plans = ws.ecw / "plans"
        while any(plans.glob(f"{self.initiative:02d}-*.json")):
            self.initiative += 1
        number = self.initiative
        self.initiative += 1
        message = command(
            self._rid("initiative"),
            f"create initiative {number} called torture {number}",
            ws.root,
            None,
            skip_consent=True,
        )
        first = self.requester.send(message)
        if first is None or not first.get("ok"):
            return self._skip()
        hows = self._retry(scenario, message, first, self.rng.randint(1, 3))
        self.ctx.counts[scenario] += 1
        made = sorted(p.name for p in plans.glob(f"{number:02d}-*.json"))
        if len(made) != 1:
            self.ctx.fail(
                scenario,
                f"'create initiative {number}' sent {len(hows) + 1} times with one id "
                f"({', '.join(hows)}) left {len(made)} trackers {made} (expected exactly 1)",
            )


def _trash_entries(folder: Path, name: str) -> list[Path]:
    if not folder.is_dir():
        return []
    return [e for e in folder.iterdir() if e.name.endswith(f"-{name}")]


def _brief(reply: dict[str, Any]) -> str:
    error = reply.get("error") or {}
    text = {
        "ok": reply.get("ok"),
        "exit_code": reply.get("exit_code"),
        "result": reply.get("result"),
        "error": f"{error.get('code')}: {str(error.get('message'))[:120]}" if error else None,
        "lines": [str(line)[:100] for line in (reply.get("lines") or [])[:2]],
    }
    return json.dumps(text, ensure_ascii=False)[:400]
