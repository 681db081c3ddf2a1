"""Hostile repositories: symlinks out of the workspace, and pathological files.

Each episode builds a scratch workspace of its own under the run's temp folder (so
the main tracker's ledger is untouched) and talks to the daemon that serves the main
workspace, which must keep serving it, promptly, throughout.

Symlink traps (SPEC §2: wtd never follows a symlink out of the workspace; such a
workspace is refused, error ``unsafe_path``, exit 4, and nothing outside is read,
written or copied in). One of: ``.ecw/journal/x.wal``, ``.ecw`` itself,
``docs/plans``, ``docs/plans/x.md``, ``.ecw/audit.log``,
``.ecw/backups/x/backups.log``, ``.ecw/wtd.lock`` is a link to a "victim" outside
the workspace. ``show progress``, a bulk change (with ``skip_consent``: it is
audited) and ``sync`` must each be refused; afterwards every file and folder outside
is as it was (bytes, mtime, no new entries) and the victims' unique marker appears
nowhere in the workspace (nothing was copied in).

Pathological hand saves of a scratch tracker's view: a ``#`` line followed by
16k-64k spaces, a 1 MB line of ``|``, 5 MB of ``-``; and of its JSON: an unknown
field nested 5,000 levels deep, which must be refused (left in place or kept under
``.ecw/``, never adopted) without breaking later requests. Meanwhile ``show
progress`` on the main workspace must be answered within the probe's deadline.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.torture.clients import command
from tests.torture.daemon import EXAMPLE, alive
from tests.torture.scenarios import DEADLINE, Context, Requester
from wtd.tracker import model, render

TRAPS = {
    "symlink-journal": ".ecw/journal/x.wal → a file outside",
    "symlink-ecw": ".ecw → a folder outside",
    "symlink-plans-dir": "docs/plans → a folder outside",
    "symlink-view": "docs/plans/x.md → a file outside",
    "symlink-audit-log": ".ecw/audit.log → a file outside",
    "symlink-backups-log": ".ecw/backups/x/backups.log → a file outside",
    "symlink-lock": ".ecw/wtd.lock → a file outside",
}
PATHOLOGICAL = ("huge-heading", "huge-pipe-line", "huge-dash", "deep-json")
DEEP = 5000


class Traps:
    NAMES = (*TRAPS, *PATHOLOGICAL)

    def __init__(self, ctx: Context, seed: int) -> None:
        self.ctx = ctx
        self.rng = random.Random(seed)
        self.requester = Requester(ctx, "trap")
        self.n = 0

    def episodes(self) -> dict[str, Callable[[], None]]:
        out: dict[str, Callable[[], None]] = {}
        for name in TRAPS:
            out[name] = lambda name=name: self.symlink(name)  # type: ignore[misc]
        for name in PATHOLOGICAL:
            out[name] = lambda name=name: self.pathological(name)  # type: ignore[misc]
        return out

    def _folder(self, kind: str) -> Path:
        self.n += 1
        folder = self.ctx.ws.base / f"{kind}-{self.n}"
        folder.mkdir()
        return folder

    def _ask(self, phrase: str, root: Path, tracker: Path, **options: Any) -> dict[str, Any] | None:
        rid = f"trap-{os.urandom(6).hex()}"
        return self.requester.send(command(rid, phrase, root, tracker, **options), fresh=True)

    # ------------------------------------------------------------ symlinks

    def symlink(self, trap: str) -> None:
        top = self._folder(trap)
        root, outside = top / "ws", top / "outside"
        outside.mkdir()
        marker = f"VICTIM-{trap}-{os.urandom(6).hex()}"
        tracker = _example_with(marker if trap == "symlink-ecw" else "an ordinary task")
        view = _view_with(marker)
        (root / "docs").mkdir(parents=True)
        if trap == "symlink-ecw":
            (outside / "ecw" / "plans").mkdir(parents=True)
            (outside / "ecw" / "plans" / "x.json").write_bytes(tracker)
            (outside / "ecw" / "victim.txt").write_text(marker + "\n")
            os.symlink(outside / "ecw", root / ".ecw")
        else:
            (root / ".ecw" / "plans").mkdir(parents=True)
            (root / ".ecw" / "plans" / "x.json").write_bytes(tracker)
        if trap == "symlink-plans-dir":
            (outside / "plans").mkdir()
            (outside / "plans" / "x.md").write_bytes(view)
            os.symlink(outside / "plans", root / "docs" / "plans")
        else:
            (root / "docs" / "plans").mkdir()
        victim = {
            "symlink-journal": (".ecw/journal/x.wal", b"%s\n" % marker.encode() * 3),
            "symlink-view": ("docs/plans/x.md", view),
            "symlink-audit-log": (".ecw/audit.log", b'{"victim": "%s"}\n' % marker.encode()),
            "symlink-backups-log": (".ecw/backups/x/backups.log", marker.encode() + b"\n"),
            "symlink-lock": (".ecw/wtd.lock", b'{"victim": "%s"}\n' % marker.encode()),
        }.get(trap)
        if victim is not None:
            rel, data = victim
            target = outside / Path(rel).name
            target.write_bytes(data)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, root / rel)
        before = _snapshot(outside)
        incarnation, pid, _info = self.ctx.keeper.snapshot()
        tracker_path = root / ".ecw" / "plans" / "x.json"
        what = f"{TRAPS[trap]} (in {root})"
        answered = []
        for phrase, options in (
            ("show progress", {}),
            ("mark phase 1 complete", {"skip_consent": True}),
            ("sync", {}),
        ):
            reply = self._ask(phrase, root, tracker_path, **options)
            if reply is None:
                answered.append(f"{phrase!r}: no reply within 40s")
                continue
            error = reply.get("error") or {}
            _now, _pid, info = self.ctx.keeper.snapshot()
            faults = info is not None and bool(info.spec)  # may refuse for another reason
            refused = error.get("code") == "unsafe_path" and reply.get("exit_code") == 4
            if reply.get("ok") or not (refused or faults):
                answered.append(
                    f"{phrase!r}: ok={reply.get('ok')} exit {reply.get('exit_code')} "
                    f"{error.get('code')!r}"
                    + (f" {str(error.get('message'))[:100]!r}" if error else "")
                )
        if answered:
            self.ctx.fail(
                trap,
                f"{what}: not refused (expected unsafe_path, exit 4): " + "; ".join(answered),
            )
        time.sleep(0.3)  # let anything the daemon does in the background land
        after = _snapshot(outside)
        created = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        changed = sorted(r for r in set(before) & set(after) if before[r] != after[r])
        if created or removed or changed:
            self.ctx.fail(
                trap,
                f"{what}: outside the workspace ({outside}), "
                + "; ".join(
                    f"{label}: {', '.join(items[:6])}{' …' if len(items) > 6 else ''}"
                    for label, items in (
                        ("written", changed),
                        ("created", created),
                        ("removed", removed),
                    )
                    if items
                ),
            )
        copies = _files_holding(root, marker.encode())
        if copies:
            self.ctx.fail(
                trap, f"{what}: the victim's content was copied into the workspace: {copies[:6]}"
            )
        self.ctx.counts["symlink"] += 1
        self._still_serving(trap, what, pid, incarnation)

    def _still_serving(self, scenario: str, what: str, pid: int | None, incarnation: int) -> None:
        now = self.ctx.keeper.current()
        if pid is not None and self.ctx.keeper.incarnation == incarnation and now != pid:
            self.ctx.fail(
                scenario,
                f"{what}: the daemon serving the main workspace changed (pid {pid} → {now}) "
                f"with no kill or injected crash",
            )
        self.ctx.main_answers(scenario, f"after {what}")

    # ------------------------------------------------------------ pathological files

    def pathological(self, kind: str) -> None:
        root = self._folder(kind)
        (root / ".ecw" / "plans").mkdir(parents=True)
        (root / "docs" / "plans").mkdir(parents=True)
        json_path = root / ".ecw" / "plans" / "p.json"
        md_path = root / "docs" / "plans" / "p.md"
        shutil.copy(EXAMPLE, json_path)
        # the daemon that opens the tracker; a restart after it opens a file already
        # pathological, which it refuses (left as it is) instead of taking it in
        incarnation, pid, _info = self.ctx.keeper.snapshot()
        opened = self._ask("show progress", root, md_path)
        if opened is None or not opened.get("ok") or not md_path.exists():
            self.ctx.counts["pathological-skipped"] += 1
            return
        if kind == "deep-json":
            path = json_path
            data = _deep_json(self.rng)
            what = f"a hand-saved JSON with an unknown field nested {DEEP} levels deep"
        else:
            path = md_path
            view = md_path.read_bytes()
            if kind == "huge-heading":
                n = self.rng.randint(16_000, 64_000)
                tail = b"#" + b" " * n + self.rng.choice((b"", b"x"))
                what = f"a hand-saved view with a '#' line and {n} spaces"
            elif kind == "huge-pipe-line":
                tail = b"|" * 1_000_000
                what = "a hand-saved view with a 1 MB line of '|'"
            else:
                tail = b"-" * 5_000_000
                what = "a hand-saved view with 5 MB of '-'"
            data = view + b"\n" + tail + b"\n"
        what += f" ({root.name})"
        tmp = path.with_name(f".{path.name}.torture-swp")
        tmp.write_bytes(data)
        self.ctx.keeper.big_input(len(data))
        os.replace(tmp, path)
        self.ctx.counts["pathological"] += 1
        # While wtd takes it in, another workspace's client must not wait.
        for _ in range(4):
            took = self.ctx.main_answers(kind, f"while wtd took in {what}")
            if took is None:
                break
            time.sleep(0.3)
        started = time.monotonic()
        later = [self._ask("show progress", root, md_path)]
        if kind == "deep-json":
            later.append(self._ask(f"rename task 1.1 to deep-{self.n}", root, json_path))
        took = time.monotonic() - started
        if any(r is None for r in later):
            self.ctx.fail(kind, f"after {what}, a later request on that tracker got no reply")
        elif took > DEADLINE * len(later):
            self.ctx.fail(
                kind, f"after {what}, later requests on that tracker took {took:.1f}s to answer"
            )
        else:
            now, _pid, info = self.ctx.keeper.snapshot()
            failed = [r for r in later if r is not None and not r.get("ok")]
            if failed and now == incarnation and info is not None and not info.spec:
                error = failed[0].get("error") or {}
                self.ctx.fail(
                    kind,
                    f"after {what}, a later request on that tracker failed (no failpoints "
                    f"active): {error.get('code')}: {str(error.get('message'))[:160]!r}",
                )
        self._check_kept(kind, what, path, data)
        if kind == "deep-json":
            current = _read(json_path)
            if current is not None and current != data and b"x_torture_deep" in current:
                self.ctx.fail(
                    kind,
                    f"{what} was adopted (the JSON was rewritten with the field) instead of "
                    "refused (nesting over the limit)",
                )
        self._still_serving(kind, what, pid, incarnation)
        if pid is not None and not alive(pid) and self.ctx.keeper.incarnation == incarnation:
            self.ctx.fail(kind, f"wtd pid {pid} died after {what}")

    def _check_kept(self, scenario: str, what: str, path: Path, data: bytes) -> None:
        """The hand-saved bytes are still the file, or kept under ``.ecw/`` (SPEC §3)."""
        digest = hashlib.sha256(data).digest()
        if _digest(path) == digest:
            return
        ecw = path.parents[2] / ".ecw"
        for folder, _dirs, files in os.walk(ecw):
            for name in files:
                if _digest(Path(folder) / name) == digest:
                    return
        self.ctx.fail(
            scenario,
            f"{what} ({len(data)} bytes) is neither the current {path.name} nor kept under "
            ".ecw/ (thrown away)",
        )


# ------------------------------------------------------------ helpers


def _example_with(name: str) -> bytes:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    for task in data["tasks"]:
        if task.get("id") == "1.1":
            task["name"] = name
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def _view_with(name: str) -> bytes:
    """A rendered view whose task 1.1 is called ``name`` (a plausible hand edit)."""
    raw = _example_with(name)
    tracker = model.decode(raw)
    return render.render(tracker, name="x", checksum=model.checksum(raw)).encode()


def _deep_json(rng: random.Random) -> bytes:
    text = EXAMPLE.read_text()
    at = text.index("{") + 1
    lists = "[" * DEEP + "]" * DEEP
    deep = lists if rng.random() < 0.5 else '{"a": ' * DEEP + "1" + "}" * DEEP
    return (text[:at] + f'\n  "x_torture_deep": {deep},' + text[at:]).encode()


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry below ``folder`` (links not followed): size, mtime_ns, sha256."""
    out: dict[str, tuple[int, int, str]] = {}
    for current, dirs, files in os.walk(folder, followlinks=False):
        for name in (*dirs, *files):
            path = Path(current) / name
            info = os.lstat(path)
            digest = ""
            if stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            out[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, digest)
    return out


def _files_holding(root: Path, marker: bytes) -> list[str]:
    """Regular files under ``root`` (links not followed) whose bytes contain ``marker``."""
    found = []
    for current, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            path = Path(current) / name
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                if marker in path.read_bytes():
                    found.append(str(path.relative_to(root)))
            except OSError:
                continue
    return found


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _digest(path: Path) -> bytes | None:
    data = _read(path)
    return hashlib.sha256(data).digest() if data is not None else None
