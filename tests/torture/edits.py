"""Hand edits of the Markdown view and the JSON, and the record of every byte written.

Kinds: an editor-style save (temp file + rename) of valid content that renames one of
the original tasks, a truncated write in place, garbage, and a deleted file. The
invariant: every byte-string written by hand is, at any check, the current file or
some file under ``.ecw/`` — or, for a valid edit, its value was adopted (merged) and
shows in the JSON (or a later hand value of the same field does).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.torture.daemon import Workspace
from tests.torture.ledger import Key, Ledger

HAND_TASKS = ("1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2", "3.3")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class HandWrite:
    index: int
    path: Path
    kind: str  # valid-md | valid-json | truncated | garbage
    data: bytes
    key: Key | None = None
    value: str | None = None
    overwritten_by_hand: bool = False  # replaced by a later hand edit before wtd saw it


class HandEditor:
    def __init__(self, seed: int, ws: Workspace, ledger: Ledger) -> None:
        self.rng = random.Random(seed)
        self.ws = ws
        self.ledger = ledger
        self.writes: list[HandWrite] = []
        self.deletes = 0
        self.counter = 0

    # ------------------------------------------------------------ editing

    def edit(self) -> str:
        """One random hand edit; the caller holds the quiet lock. Returns what it did."""
        path = self.ws.md if self.rng.random() < 0.55 else self.ws.json
        roll = self.rng.random()
        if roll < 0.45:
            done = self._valid(path)
            if done:
                return done
            roll = 0.5
        if roll < 0.65:
            return self._truncated(path)
        if roll < 0.9:
            return self._garbage(path)
        return self._delete(path)

    def _current(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _forget_overwritten(self, path: Path) -> None:
        """Writing over our own earlier hand edit destroys it: that is not wtd's doing."""
        current = self._current(path)
        if current is None:
            return
        for w in self.writes:
            if w.path == path and w.data == current:
                w.overwritten_by_hand = True

    def _record(
        self, path: Path, kind: str, data: bytes, key: Key | None = None, value: str | None = None
    ) -> None:
        self.writes.append(HandWrite(len(self.writes), path, kind, data, key, value))

    def _save_like_an_editor(self, path: Path, data: bytes) -> None:
        self._forget_overwritten(path)
        tmp = path.with_name(f".{path.name}.torture-swp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _write_in_place(self, path: Path, data: bytes) -> None:
        self._forget_overwritten(path)
        with open(path, "wb") as f:
            f.write(data)

    def _valid(self, path: Path) -> str | None:
        current = self._current(path)
        if current is None:
            return None
        self.counter += 1
        tid = self.rng.choice(HAND_TASKS)
        value = f"hand-{self.counter}-{self.rng.randint(100, 999)}"
        if path == self.ws.json:
            try:
                data: dict[str, Any] = json.loads(current)
                task = next(t for t in data["tasks"] if t.get("id") == tid)
            except (ValueError, KeyError, StopIteration, TypeError, AttributeError):
                return None
            task["name"] = value
            new = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()
        else:
            text = current.decode("utf-8", errors="strict") if _utf8(current) else ""
            pattern = re.compile(rf"^\| {re.escape(tid)} \| [^|\n]+ \|", re.MULTILINE)
            if not pattern.search(text):
                return None
            text = pattern.sub(f"| {tid} | {value} |", text, count=1)
            new = text.encode()
        key: Key = ("task", tid, "name")
        self.ledger.hand_value(key, value)
        self._save_like_an_editor(path, new)
        self._record(path, "valid-" + ("json" if path == self.ws.json else "md"), new, key, value)
        return f"valid edit of {path.name}: task {tid} renamed to {value}"

    def _truncated(self, path: Path) -> str:
        current = self._current(path) or b"{\n"
        cut = self.rng.randint(0, max(0, len(current) - 1))
        data = (
            current[:cut]
            + f"\n<!-- torn {self.rng.random()} -->".encode()[: self.rng.randint(0, 8)]
        )
        if data == current or not data:
            data = current[: len(current) // 2] + b"\x00"
        self._write_in_place(path, data)
        self._record(path, "truncated", data)
        return f"truncated {path.name} to {len(data)} bytes"

    def _garbage(self, path: Path) -> str:
        data = self.rng.randbytes(self.rng.randint(1, 4000))
        if self.rng.random() < 0.5:  # plausible-looking garbage
            data = b'{"schema_version": "2.1.0", "tasks": [' + data
        self._write_in_place(path, data)
        self._record(path, "garbage", data)
        return f"garbage ({len(data)} bytes) into {path.name}"

    def _delete(self, path: Path) -> str:
        self._forget_overwritten(path)
        try:
            path.unlink()
        except FileNotFoundError:
            return f"{path.name} already gone"
        self.deletes += 1
        return f"deleted {path.name}"

    # ------------------------------------------------------------ checking

    def check_kept(self, tracker: dict[str, Any] | None) -> list[str]:
        """Every hand-written byte-string is kept (or adopted); returns violations."""
        kept = set()
        for folder, _dirs, files in os.walk(self.ws.ecw):
            for name in files:
                p = Path(folder) / name
                if p == self.ws.json:
                    continue
                try:
                    kept.add(sha(p.read_bytes()))
                except OSError:
                    continue
        for current_file in (self.ws.json, self.ws.md):
            data = self._current(current_file)
            if data is not None:
                kept.add(sha(data))
        names = {}
        if tracker is not None:
            names = {str(t.get("id")): t.get("name") for t in tracker.get("tasks", [])}
        problems = []
        for w in self.writes:
            if w.overwritten_by_hand or sha(w.data) in kept:
                continue
            if w.key is not None and tracker is not None:
                later = {x.value for x in self.writes if x.key == w.key and x.index >= w.index}
                if names.get(w.key[1]) in later:
                    continue  # merged: its value (or a later hand value) was adopted
            problems.append(
                f"hand edit #{w.index} ({w.kind} of {w.path.name}, {len(w.data)} bytes, "
                f"sha256 {sha(w.data)[:12]}) is neither the current file nor kept under "
                f".ecw/ nor merged"
            )
        return problems


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
