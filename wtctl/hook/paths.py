"""Protected paths (``.ecw/``, ``docs/plans/``) and a bounded resolver of shell words.

A word names files as bash and the kernel see it: ``~`` and braces expanded, globs
matched against the file system, relative to the effective working folder, symlinks
followed. The resolver counts its work for one command (paths resolved, entries read,
expansions made); past that budget it stops resolving: a subagent's command then is
blocked (what was not checked is unknown), the main agent's is judged on what was
checked and on its words as written.
"""

from __future__ import annotations

import itertools
import os
import re

ECW_WHY = (
    "wtd owns .ecw/ (tracker JSON, journal, backups, consent state); a hand-made change "
    "there bypasses it. Use wtctl to change the tracker instead, e.g. "
    'wtctl "mark task 2.2 complete" (wtctl help lists the phrases).'
)
PLAN_WHY = (
    "Tracker views are rendered by wtd from .ecw/plans/<name>.json. Create a tracker "
    'with wtctl "create initiative N called TITLE" instead (editing an existing view '
    "is fine: edits sync back)."
)
ASK_INSTEAD = (
    "Ask the main agent or the user to do it; a subagent may still read the tracker "
    'and change single tasks, e.g. wtctl --subagent "mark task 2.2 complete".'
)

MAX_WORD = 4096  # PATH_MAX: a longer word names no file
MAX_WORK = 40_000  # per command: system calls (a path component each) and entries read
MAX_NAMES = 4_096  # per command: names made by brace and glob expansion
_GLOB = frozenset("*?[")
_EXPANDS = frozenset("*?[{~")
_BRACE_SPECIALS = r"[{},]"  # compiled when used (re caches it): most commands have no brace
_SEP = os.sep


def protected_part(path: str) -> str | None:
    """``".ecw"`` or ``"docs/plans"`` when the absolute normalised ``path`` is such a
    folder or under one, else None (a string test, no system call)."""
    if f"{_SEP}.ecw" in path and ".ecw" in path.split(_SEP):
        return ".ecw"
    if f"{_SEP}docs{_SEP}plans{_SEP}" in path + _SEP:
        return "docs/plans"
    return None


def _has_glob(text: str) -> bool:
    return not _GLOB.isdisjoint(text)


class Resolver:
    """Resolves the words of one command to paths, within the budget above.

    Past the budget it degrades instead of failing: paths are judged as written
    (normalised, no symlink resolved), words are not expanded, nothing is listed, and
    ``over`` is set so that a subagent's command can be blocked for it.
    """

    def __init__(self) -> None:
        self.work = 0
        self.names = 0
        self.over = False
        self._real_dirs: dict[str, str] = {}
        self._reals: dict[str, str] = {}

    def charge(self, units: int) -> bool:
        """Count ``units`` of work; False (and ``over``) once past the budget."""
        if self.over:
            return False
        self.work += units
        if self.work > MAX_WORK:
            self.over = True
        return not self.over

    def _name(self) -> bool:
        self.names += 1
        if self.names > MAX_NAMES:
            self.over = True
        return not self.over

    # ---------------------------------------------------------------- file system

    def exists(self, full: str) -> bool:
        try:
            return self.charge(1) and os.path.lexists(full)
        except (OSError, ValueError):
            return False

    def is_link(self, full: str) -> bool:
        try:
            return self.charge(1) and os.path.islink(full)
        except (OSError, ValueError):
            return False

    def is_dir(self, full: str) -> bool:
        try:
            return self.charge(1) and os.path.isdir(full)
        except (OSError, ValueError):
            return False

    def _realpath(self, path: str) -> str:
        if not self.charge(path.count(_SEP) + 1):
            return os.path.normpath(path)
        try:
            return os.path.realpath(path)
        except (OSError, ValueError):
            return os.path.normpath(path)

    def real(self, full: str) -> str:
        """The physical path of the absolute ``full``: symlinks resolved (the real
        folders are cached, so many names in one folder cost one ``lstat`` each)."""
        known = self._reals.get(full)
        if known is not None:
            return known
        head, tail = os.path.split(full)
        if tail in ("", ".", ".."):
            real = self._realpath(full)
        else:
            base = self._real_dirs.get(head)
            if base is None:
                base = self._realpath(head)
                if not self.over:
                    self._real_dirs[head] = base
            joined = os.path.join(base, tail)
            real = self._realpath(joined) if self.is_link(joined) else joined
        if not self.over:
            self._reals[full] = real
        return real

    def part(self, full: str) -> str | None:
        """``protected_part`` of the absolute ``full``, logically or physically."""
        return protected_part(os.path.normpath(full)) or protected_part(self.real(full))

    # ---------------------------------------------------------------- expansion

    def expand(self, word: str, cwd: str) -> list[str]:
        """The absolute paths ``word`` names from ``cwd``, as bash expands it: braces,
        ``~``, then globs matched against the file system (the word itself when a glob
        matches nothing). Empty for a word that can name no file."""
        word = word.replace("\0", "")
        if not word or len(word) > MAX_WORD:
            return []
        words = self.braces(word) if "{" in word else [word]
        out: list[str] = []
        for item in words:
            full = os.path.join(cwd, expand_home(item))
            found = self.glob(full) if _has_glob(item) else []
            out.extend(found or [full])
        return out

    def braces(self, word: str) -> list[str]:
        """Bash brace expansion of ``{a,b}`` groups (nested too; ``${…}`` and groups
        without a comma stay as they are; sequences ``{1..3}`` are not expanded)."""
        out: list[str] = []
        stack = [word]
        while stack:
            item = stack.pop()
            group = self._brace_group(item) if self._name() else None
            if group is None:
                out.append(item)
                continue
            head, tail = item[: group[0]], item[group[-1] + 1 :]
            alternatives = [item[a + 1 : b] for a, b in itertools.pairwise(group)]
            stack.extend(head + alternative + tail for alternative in reversed(alternatives))
        return out

    def _brace_group(self, word: str) -> list[int] | None:
        """The leftmost brace group with a comma: [open, commas…, close], or None."""
        open_groups: list[list[int]] = []
        best: list[int] | None = None
        for special in re.finditer(_BRACE_SPECIALS, word):
            if not self.charge(1):
                return None
            at = special.start()
            char = special.group()
            if char == "{":
                # "${" starts a parameter expansion: -1 marks a group that cannot expand
                open_groups.append([at] if at == 0 or word[at - 1] != "$" else [-1])
            elif char == ",":
                if open_groups:
                    open_groups[-1].append(at)
            elif open_groups:
                group = open_groups.pop()
                if group[0] >= 0 and len(group) > 1 and (best is None or group[0] < best[0]):
                    best = [*group, at]
        return best

    def glob(self, pattern: str) -> list[str]:
        """The existing paths the absolute ``pattern`` matches, sorted; hidden names
        only for a component that starts with ``.`` (bash without ``dotglob``)."""
        from fnmatch import fnmatchcase  # only for a command with a glob

        parts = pattern.split(_SEP)
        last = len(parts) - 1
        bases = [_SEP]
        for index, part in enumerate(parts):
            if not part:
                continue
            if not _has_glob(part):
                bases = [os.path.join(base, part) for base in bases]
                continue
            need_dir = index < last
            matched: list[str] = []
            for base in bases:
                for entry in self.entries(base):
                    name = entry.name
                    if name.startswith(".") and not part.startswith("."):
                        continue
                    if not fnmatchcase(name, part):
                        continue
                    try:
                        if need_dir and not entry.is_dir():
                            continue
                    except OSError:
                        continue
                    if not self._name():
                        break
                    matched.append(os.path.join(base, name))
            bases = sorted(matched)
            if not bases:
                return []
        return bases

    def entries(self, folder: str) -> list[os.DirEntry[str]]:
        """The entries of ``folder`` (none when it cannot be listed), within the budget."""
        found: list[os.DirEntry[str]] = []
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    if not self.charge(1):
                        break
                    found.append(entry)
        except (OSError, ValueError):
            pass
        return found


# ------------------------------------------------------------------ what may not be written


def under_ecw(full: str, resolver: Resolver) -> bool:
    """Is the absolute ``full`` a ``.ecw`` folder or under one, symlinks resolved?"""
    if ".ecw" in os.path.normpath(full).split(_SEP):
        return True
    return ".ecw" in resolver.real(full).split(_SEP)


def _plan_shape(path: str) -> bool:
    head, name = os.path.split(path)
    docs, plans = os.path.split(head)
    return name.endswith(".md") and plans == "plans" and os.path.basename(docs) == "docs"


def new_plan(full: str, resolver: Resolver) -> bool:
    """Would writing the absolute ``full`` create a new ``docs/plans/*.md`` (also through
    a symlinked folder)?"""
    logical = os.path.normpath(full)
    if not (_plan_shape(logical) or _plan_shape(resolver.real(full))):
        return False
    return not resolver.exists(full)


def expand_home(word: str) -> str:
    """``word`` with a leading ``~`` or ``~user`` expanded (as it is, when it cannot be)."""
    if not word.startswith("~"):
        return word
    try:
        return os.path.expanduser(word)
    except (OSError, ValueError, KeyError):
        return word


def full_path(raw: str, cwd: str) -> str:
    """``raw`` as an absolute path seen from ``cwd`` (``~`` expanded, not normalised)."""
    return os.path.join(cwd, expand_home(raw.replace("\0", "")))


def path_reason(
    raw: str, full: str, *, creating: bool, subject: str, resolver: Resolver
) -> str | None:
    """Why writing ``full`` (the absolute path, or one expansion, of the word ``raw``)
    is blocked, or None."""
    if not raw or not full:
        return None
    if under_ecw(full, resolver):
        shown = f"{raw} ({os.path.normpath(full)})" if _EXPANDS.intersection(raw) else raw
        return f"Blocked: {subject} {shown}, which is under .ecw/. {ECW_WHY}"
    if creating and not _has_glob(full) and "$" not in full and new_plan(full, resolver):
        return f"Blocked: {subject} {raw}, a new docs/plans/*.md file. {PLAN_WHY}"
    return None
