"""Bash commands: lexing (words, operators, here-documents) and what a command writes.

``Walk`` goes through a command as bash would run it (following ``cd``, into
``bash -c``/``eval``/``$(…)`` and into programs fed to an interpreter on stdin) and keeps
the first reason to block a write to a protected path (everyone), and, when asked
(``reach``: a subagent's command that names none of the guarded words), the first word
that leads into ``.ecw/`` or ``docs/plans/`` once resolved on the file system.

The parts: ``lexer`` (words, operators, here-documents, simple commands,
substitutions) and ``writers`` (what a program writes); this module walks a command
with them and re-exports their names.
"""

from __future__ import annotations

import os
import re

from wtctl.hook.lexer import Lexed, Simple, lex, simple_commands, substitutions
from wtctl.hook.paths import (
    ECW_WHY,
    MAX_WORD,
    Resolver,
    full_path,
    path_reason,
    protected_part,
)
from wtctl.hook.writers import (
    ASSIGNMENT,
    EDITORS,
    FIND_LISTED,
    INTERPRETERS,
    LITERALS,
    SHELLS,
    WRITERS,
    Find,
    command_words,
    editor_commands,
    piped_texts,
    program_writes,
    script_of,
    script_writes,
    shell_script,
)

__all__ = [
    "ASSIGNMENT",
    "WRITERS",
    "Find",
    "Lexed",
    "Simple",
    "Walk",
    "command_words",
    "lex",
    "script_writes",
    "simple_commands",
    "substitutions",
]

# ------------------------------------------------------------------ the walk


class Walk:
    """Walks a Bash command (recursively into sh -c / eval / $(…) / programs on stdin),
    keeping the first reason to block a write to a protected path (``reason``) and, with
    ``reach``, the first word that leads into ``.ecw/`` or ``docs/plans/`` (``reached``:
    (the word, the folder, the path it resolves to)). ``paths.over`` tells that the
    budget ran out before everything was resolved."""

    def __init__(self, cwd: str, *, reach: bool = False) -> None:
        self.cwd = cwd
        self.reach = reach
        self.reason: str | None = None
        self.reached: tuple[str, str, str] | None = None
        self.paths = Resolver()
        self._cwd_parts: dict[str, tuple[str | None, bool]] = {}

    # ---------------------------------------------------------------- commands

    def done(self) -> bool:
        """Decided: blocked for everyone, or (a subagent's) past the budget."""
        return self.reason is not None or (self.reach and self.paths.over)

    def command(self, text: str, depth: int = 0) -> None:
        if depth > 3 or self.done():
            return
        fed: list[str] = []
        for simple in simple_commands(text):
            self.simple(simple, depth, fed)
            if self.done():
                return
            fed = piped_texts(simple) if simple.pipes else []

    def simple(self, simple: Simple, depth: int, fed: list[str]) -> None:
        for word in (*simple.words, *simple.writes, *simple.reads):
            for inner in substitutions(word):
                self.command(inner, depth + 1)
        for text, expanded in simple.stdin:
            if expanded:
                for inner in substitutions(text):
                    self.command(inner, depth + 1)
        wrote = False
        for target in simple.writes:
            wrote = wrote or not target.startswith("/dev/")
            self.write(target, creating=True, subject="the command writes")
        if self.reason is not None:
            return
        words, _ = command_words(simple)
        if self.reach:
            for word in simple.words:
                self.touch(word)
                if "=" in word:
                    self.touch(word.partition("=")[2])
            for target in simple.reads:
                self.touch(target, target=True)
        if not words:
            self.cwd_writes(wrote)
            return
        name = os.path.basename(words[0])
        if name in ("cd", "pushd"):
            self.cd(words)
            return
        stdin = [text for text, _ in simple.stdin] + fed
        inline = shell_script(words) if name in SHELLS else script_of(words)
        if name in SHELLS or name == "eval":
            programs = [inline] if inline else stdin
            for program in [" ".join(words[1:])] if name == "eval" else programs:
                self.command(program, depth + 1)
            return
        if INTERPRETERS.fullmatch(name):
            programs = [inline] if inline else [] if "-m" in words else stdin
            for program in programs:
                wrote = self.script(name, program) or wrote
        elif name in EDITORS:
            for program in editor_commands(words) + stdin:
                if ".ecw" in program:
                    self.reason = f"Blocked: this {name} command names .ecw/. {ECW_WHY}"
                    return
        if name == "find":
            wrote = self.find(Find(words[1:])) or wrote
        elif name in WRITERS:
            creates, changes = program_writes(self.expanded(words), self.cwd)
            wrote = wrote or bool(creates or changes)
            for target in changes:
                self.write(target, creating=False, subject="the command changes")
            for target in creates:
                self.write(target, creating=True, subject="the command writes")
            if name == "rm" and any(re.match(r"-[A-Za-z]*[rR]|--recursive", a) for a in words):
                for target in changes:
                    self.holder(target)
        if self.reason is None:
            self.cwd_writes(wrote)

    def expanded(self, words: list[str]) -> list[str]:
        """``words`` with its file operands expanded as bash expands them (braces, ``~``,
        globs: absolute paths then), options left as they are."""
        out = words[:1]
        here = self.cwd.rstrip(os.sep) + os.sep
        for word in words[1:]:
            if word.startswith("-") or not any(c in word for c in "*?[{~"):
                out.append(word)
                continue
            relative = not word.startswith(("/", "~"))
            for full in self.paths.expand(word, self.cwd) or [word]:
                out.append(full[len(here) :] if relative and full.startswith(here) else full)
        return out

    def cd(self, words: list[str]) -> None:
        args = [w for w in words[1:] if not (w.startswith("-") and w != "-")]
        target = args[0] if args else "~"
        if target == "-" or "$" in target:
            return
        found = self.paths.expand(target, self.cwd)
        if len(found) == 1 and len(found[0]) <= MAX_WORD:  # bash cannot go further
            self.cwd = os.path.normpath(found[0])

    # ---------------------------------------------------------------- writes (everyone)

    def write(self, raw: str, *, creating: bool, subject: str) -> None:
        """Check that writing the word ``raw`` (each path it expands to) is allowed."""
        if self.reason is not None or not raw:
            return
        for full in self.paths.expand(raw, self.cwd) or [full_path(raw, self.cwd)]:
            self.reason = path_reason(
                raw, full, creating=creating, subject=subject, resolver=self.paths
            )
            if self.reason is not None:
                return
            if self.reach:
                self.reach_path(raw, full)

    def holder(self, raw: str) -> None:
        """A folder deleted with everything in it: blocked when it holds ``.ecw/``."""
        full = full_path(raw, self.cwd)
        real = self.paths.real(full)
        if self.reason is None and self.paths.is_dir(os.path.join(real, ".ecw")):
            self.reason = f"Blocked: the command deletes {raw}, which holds .ecw/. {ECW_WHY}"
        elif self.reach and self.reached is None:
            plans = self.plans_in(real)
            if plans is not None:
                self.reached = (raw, "docs/plans", plans)

    def plans_in(self, real: str, *, project: bool = True) -> str | None:
        """The ``docs/plans`` folder that the folder ``real`` (physical) holds as a
        ``docs`` folder (or, with ``project``, as a project), or None."""
        tails = (("docs", "plans"), ("plans",)) if project else (("plans",),)
        for tail in tails:
            plans = os.path.join(real, *tail)
            if plans.endswith(f"{os.sep}docs{os.sep}plans") and self.paths.is_dir(plans):
                return plans
        return None

    def script(self, name: str, script: str) -> bool:
        """Check an interpreter's program; does it look like it writes?"""
        writes = script_writes(script)
        literals = [a or b for a, b in re.findall(LITERALS, script)] if writes or self.reach else []
        if writes:
            cwd_part = self.cwd_part()[0]
            if ".ecw" in script or cwd_part == ".ecw":
                self.reason = f"Blocked: this {name} program writes under .ecw/. {ECW_WHY}"
                return True
            subject = f"this {name} program writes"
            for literal in literals:
                if literal and len(literal) <= MAX_WORD and not literal.startswith("-"):
                    self.reason = path_reason(
                        literal,
                        full_path(literal, self.cwd),
                        creating=True,
                        subject=subject,
                        resolver=self.paths,
                    )
                    if self.reason is not None:
                        return True
        if self.reach:
            for literal in literals:
                self.touch(literal, expand=False)
        return writes

    def find(self, find: Find) -> bool:
        """Check ``find``; does it change files (``-delete``, ``-exec`` of a writer)?"""
        for target in find.outputs:
            self.write(target, creating=True, subject="the command writes")
        if not find.writes:
            return bool(find.outputs)
        for start in find.starts:
            for full in self.paths.expand(start, self.cwd):
                real = self.paths.real(full)
                logical = os.path.normpath(full)
                roots: list[tuple[str, str]] = []
                if ".ecw" in logical.split(os.sep) or ".ecw" in real.split(os.sep):
                    roots.append((real, ".ecw"))
                elif self.paths.is_dir(os.path.join(real, ".ecw")):
                    roots.append((os.path.join(real, ".ecw"), ".ecw"))
                if self.reach:
                    if "docs/plans" in (protected_part(logical), protected_part(real)):
                        roots.append((real, "docs/plans"))
                    elif (plans := self.plans_in(real)) is not None:
                        roots.append((plans, "docs/plans"))
                for root, part in roots:
                    if not self.find_hits(find, start, real, root):
                        continue
                    if part == ".ecw":
                        self.reason = (
                            f"Blocked: the command changes files under .ecw/ (find {start} "
                            f"… -delete or -exec). {ECW_WHY}"
                        )
                        return True
                    if self.reached is None:
                        self.reached = (start, part, root)
        return True

    def find_hits(self, find: Find, start: str, real: str, root: str) -> bool:
        """Would ``find`` (from ``start``, physically ``real``) reach a file under the
        protected folder ``root``? Its entries are listed breadth first, up to a bound:
        past it, the main agent's command is let through, a subagent's is not."""
        if find.complex or not find.tests:
            return True
        queue = [root]
        seen = 0
        for folder in queue:  # grows while it is read: breadth first
            shown = start.rstrip(os.sep) + folder[len(real) :] if folder.startswith(real) else ""
            if folder == root and find.matches(os.path.basename(root), shown):
                return True
            for entry in self.paths.entries(folder):
                seen += 1
                if seen > FIND_LISTED:
                    self.paths.over = True
                    return False
                if find.matches(entry.name, f"{shown}{os.sep}{entry.name}"):
                    return True
                try:
                    if entry.is_dir(follow_symlinks=False):
                        queue.append(entry.path)
                except OSError:
                    continue
        return False

    # ---------------------------------------------------------------- reach (subagents)

    def cwd_part(self) -> tuple[str | None, bool]:
        """The guarded folder the working folder is in, and whether it is a ``docs``
        folder with ``plans/`` in it."""
        known = self._cwd_parts.get(self.cwd)
        if known is None:
            part = self.paths.part(self.cwd)
            real = self.paths.real(self.cwd)
            docs = part is None and self.plans_in(real, project=False) is not None
            known = self._cwd_parts[self.cwd] = (part, docs)
        return known

    def cwd_writes(self, wrote: bool) -> None:
        """A subagent's command that writes from inside a guarded folder (or from a
        ``docs`` folder holding ``plans/``) reaches it, whatever names it uses."""
        if not (self.reach and wrote and self.reached is None):
            return
        part, docs = self.cwd_part()
        if part is not None or docs:
            self.reached = ("", part or "docs", self.cwd)

    def touch(self, word: str, *, target: bool = False, expand: bool = True) -> None:
        """Note a word of a subagent's command that leads into a guarded folder."""
        word = word.replace("\0", "")
        if self.reached is not None or self.paths.over or not word or len(word) > MAX_WORD:
            return
        if word.startswith("-") and not target:
            return
        if not (target or "/" in word or word[0] in ".~" or any(c in word for c in "*?[{")):
            # a bare name: it leads somewhere guarded only from a guarded folder, as
            # "plans" from docs/, or as a symlink
            full = os.path.join(self.cwd, word)
            part = self.cwd_part()[0]
            if part is not None:
                if self.paths.exists(full):
                    self.reached = (word, part, full)
                return
            part = protected_part(os.path.normpath(full))
            if part is None and self.paths.is_link(full):
                part = protected_part(self.paths.real(full))
            if part is not None:
                self.reached = (word, part, full)
            return
        found = self.paths.expand(word, self.cwd) if expand else [full_path(word, self.cwd)]
        for full in found:
            self.reach_path(word, full)

    def reach_path(self, word: str, full: str) -> None:
        if self.reached is None:
            part = self.paths.part(full)
            if part is not None:
                self.reached = (word, part, os.path.normpath(full))
