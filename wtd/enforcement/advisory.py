"""Advisory enforcement (SPEC §7): the workspace's own rules, shown, never enforced.

The rules come from the section of the workspace's ``CLAUDE.md`` whose heading (any
level, ``#`` to ``######``) mentions "work tracker" (case-insensitive; "work-tracker"
counts), plus rules from config. Each bullet item of the section is a rule (indented
continuation lines join it); a section without bullets gives one rule per
non-empty line. Sub-headings inside the section belong to it; the section ends at
the next heading of the same or a higher level. Code fences are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from wtd.errors import WtdError
from wtd.storage import safepath

ADVISORY_PREFIX: Final = "ℹ Advisory: "


def _heading(line: str) -> tuple[int, str] | None:
    r"""(depth, text) of an ATX heading line, else None. The same as the pattern
    ``^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`` but linear on long runs of ``#`` or spaces."""
    body = line.lstrip()
    indent = len(line) - len(body)
    if indent > 3 or not body.startswith("#"):
        return None
    rest = body.lstrip("#")
    depth = len(body) - len(rest)
    if depth > 6 or not rest[:1].isspace():
        return None
    text = rest.strip()
    if text.endswith("#"):
        text = text.rstrip("#").rstrip()
    return depth, text


RULES_MAX_BYTES: Final = 1 << 20  # a CLAUDE.md bigger than this is not read for rules
_TOPIC = re.compile(r"work[\s_-]*tracker", re.IGNORECASE)
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.*)$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_WORD = re.compile(r"[a-z]+")

_KIND_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "create_initiative": ("initiative", "create", "new tracker", "consent", "approval", "approve"),
    "delete_tracker": ("delete", "remove", "trash", "consent", "approval", "approve"),
    "bulk_change": ("bulk", "at once", "all tasks", "phase", "status", "complete", "consent"),
    "change": ("status", "complete", "mark", "update", "evidence", "verif"),
    "consent": ("consent", "approval", "approve"),
}
_GUARDED: Final = frozenset({"create_initiative", "delete_tracker", "bulk_change", "consent"})
_STOP: Final = frozenset(
    {"task", "tasks", "tracker", "trackers", "phase", "the", "and", "for", "with", "from"}
    | {"into", "that", "this", "then", "show", "list", "what"}
)


def parse_rules(markdown: str) -> list[str]:
    """The rules of every work-tracker section of ``markdown``, in order."""
    rules: list[str] = []
    level = 0  # heading level of the section we are in; 0 = outside
    fenced = False
    current: list[str] | None = None
    plain: list[str] = []
    bullets: list[str] = []

    def close() -> None:
        rules.extend(bullets or plain)
        bullets.clear()
        plain.clear()

    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            current = None
            continue
        if fenced:
            continue
        heading = _heading(line)
        if heading:
            depth, title = heading
            if level and depth <= level:
                close()
                level = 0
            if not level and _TOPIC.search(title):
                level = depth
            current = None
            continue
        if not level:
            continue
        bullet = _BULLET.match(line)
        if bullet:
            current = [bullet.group(2).strip()]
            bullets.append("")
            _set_last(bullets, current)
        elif line.strip() and current is not None and line[:1].isspace():
            current.append(line.strip())
            _set_last(bullets, current)
        elif line.strip():
            current = None
            text = line.strip()
            if not text.startswith(("|", "<!--")):  # tables and comments are not rules
                plain.append(text.lstrip("> ").strip())
        else:
            current = None
    if level:
        close()
    return [_clean(rule) for rule in rules if _clean(rule)]


def _set_last(bullets: list[str], parts: list[str]) -> None:
    bullets[-1] = " ".join(parts)


def _clean(rule: str) -> str:
    return re.sub(r"\s+", " ", rule.replace("**", "").replace("__", "")).strip()


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


class AdvisoryLevel:
    """Rules of one workspace. ``advise`` never raises and never blocks.

    ``CLAUDE.md`` is re-read only when its mtime (or size) changes; a missing or
    unreadable file means no rules from it.
    """

    def __init__(self, workspace: Path, extra_rules: Sequence[str] = ()) -> None:
        self.path = workspace / "CLAUDE.md"
        self.extra_rules = [r.strip() for r in extra_rules if r.strip()]
        self._seen: tuple[int, int] | None = None
        self._rules: list[str] = []

    @property
    def rules(self) -> list[str]:
        """Every rule: those of ``CLAUDE.md`` first, then the configured ones."""
        try:
            st = self.path.stat()
            signature: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            signature = None
        if signature != self._seen:
            self._seen = signature
            self._rules = self._read() if signature is not None else []
        return [*self._rules, *self.extra_rules]

    def _read(self) -> list[str]:
        try:
            data = safepath.read_bytes(self.path, RULES_MAX_BYTES)  # never a FIFO's wait
        except (OSError, WtdError):
            return []
        return parse_rules(data.decode("utf-8", errors="replace"))

    def advise(self, operation_kind: str, phrase: str) -> list[str]:
        """The rules relevant to an operation, as ``ℹ Advisory: <rule>`` lines.

        ``operation_kind`` is an ``Action`` (``read``, ``change``, a guarded kind or
        ``consent``). A rule is relevant when it mentions a word of the operation's
        kind or of ``phrase``. Reads get no advice; a guarded operation with no
        matching rule gets every rule (better shown than missed).
        """
        if operation_kind == "read":
            return []
        rules = self.rules
        if not rules:
            return []
        words = [*_KIND_WORDS.get(operation_kind, ()), *_phrase_words(phrase)]
        patterns = [re.compile(r"\b" + re.escape(_stem(w)), re.IGNORECASE) for w in words]
        chosen = [r for r in rules if any(p.search(r) for p in patterns)]
        if not chosen and operation_kind in _GUARDED:
            chosen = rules
        return [ADVISORY_PREFIX + rule for rule in chosen]


def _phrase_words(phrase: str) -> Iterable[str]:
    return {w for w in _WORD.findall(phrase.lower()) if len(w) >= 4 and w not in _STOP}
