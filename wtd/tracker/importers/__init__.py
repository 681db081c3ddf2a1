"""Importing the plans people already have (SPEC §2a): one entry point, one reader per format.

``import_plan(text, title_hint=..., source=...)`` picks the reader by content, never by
file name: each reader scores how much of the file looks like its format (``detect``),
the highest score reads it (ties go to the more specific format, in ``READERS`` order),
and when that reader finds no task the next one with a score tries. A result always
has at least one task: a file of which nothing is understood raises ``NothingToImport``
naming the formats understood.

The law every reader keeps: each non-blank line of the file ends up somewhere — the
title or meta, a phase, a task, a sub-task, the notes of the plan, a phase, a task or a
sub-task (``notes`` extra fields, verbatim), the view's regenerated layout — or in
``unmapped`` (counted as not understood, and still kept as a note). ``accounted_lines``
shows it. Pure and linear in the size of the text: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NamedTuple

from wtd.tracker import model
from wtd.tracker.importers import (
    assemble,
    checklist,
    common,
    conductor,
    cursor,
    ecw,
    heading,
    kiro,
    roadmap,
    speckit,
    table,
)
from wtd.tracker.importers.build import NOTE, Build
from wtd.tracker.importers.result import (
    ImportResult,
    NothingToImport,
    accounted_lines,
    line_roles,
)
from wtd.tracker.importers.syntax import Doc

__all__ = [
    "READERS",
    "ImportResult",
    "NothingToImport",
    "Reader",
    "accounted_lines",
    "import_plan",
    "line_roles",
]


class Reader(NamedTuple):
    name: str
    telltale: str  # one line for the refusal message: the format's markers
    detect: Callable[[Doc], int]  # how much of the document looks like the format
    read: Callable[[Doc, Build], None]  # build the tracker from the document


def _reader(module: object) -> Reader:
    return Reader(
        getattr(module, "NAME"),  # noqa: B009 - every reader module defines them
        getattr(module, "TELLTALE"),  # noqa: B009
        getattr(module, "detect"),  # noqa: B009
        getattr(module, "read"),  # noqa: B009
    )


READERS: Final[tuple[Reader, ...]] = tuple(
    _reader(m) for m in (ecw, cursor, speckit, kiro, conductor, heading, table, roadmap, checklist)
)
"""Most specific first: on equal scores the earlier reader wins."""


def import_plan(
    text: str, *, title_hint: str, source: str = "", max_bytes: int = model.MAX_BYTES
) -> ImportResult:
    """A schema-valid v2 tracker built from a plan that has no JSON yet.

    ``title_hint`` is the title when the plan has none; ``source`` names the file in the
    summary. Raises model.LimitExceeded when ``text`` is over ``max_bytes`` (counted as
    UTF-8), NothingToImport when no reader finds a task in it.
    """
    model.check_size(text, max_bytes=max_bytes, what="the plan")
    doc = Doc(text)
    ranked = sorted(
        ((reader.detect(doc), -k, reader) for k, reader in enumerate(READERS)),
        key=lambda x: (x[0], x[1]),
        reverse=True,
    )
    for score, _, reader in ranked:
        if score <= 0:
            break
        build = Build(doc, title_hint)
        if reader.name != cursor.NAME:
            common.front_matter(doc, build)
        reader.read(doc, build)
        if build.tasks:
            return _result(doc, build, reader.name, source)
    raise NothingToImport(_refusal(source, doc))


def _result(doc: Doc, build: Build, name: str, source: str) -> ImportResult:
    for i, line in enumerate(doc.lines):  # the law's safety net: never needed by a reader
        if not build.roles[i + 1] and line.strip():
            build.unknown(i + 1, line, f"not read by the {name} reader")
    tracker = assemble.tracker(build)
    tasks = tracker.tasks
    done = sum(1 for t in tasks if t.status == "complete")
    subs = len(tracker.all_subtasks())
    notes = build.roles.count(NOTE)
    bad = sorted({u.line for u in build.unmapped if u.line > 0})
    where = f" from {source}" if source else ""
    summary = [
        f"Imported {_plural(len(tracker.phases), 'phase')}, {_plural(len(tasks), 'task')} "
        f"({done} complete), {_plural(subs, 'sub-task')}{where} (format: {name})",
        *build.notices,
        *_numbers_differ(build),
    ]
    if notes:
        summary.append(f"{_plural(notes, 'line')} kept as notes")
    if bad:
        summary.append(f"{_plural(len(bad), 'line')} not understood (first at line {bad[0]})")
    return ImportResult(
        tracker=tracker,
        format=name,
        phases=len(tracker.phases),
        tasks=len(tasks),
        notes=notes,
        not_understood=len(bad),
        unmapped=build.unmapped,
        summary=summary,
        roles=bytes(build.roles),
    )


def _numbers_differ(build: Build) -> list[str]:
    """A warning when the plan's own numbers name other items in the tracker (a Kiro
    plan's sub-task 1.2 is sub-task 1.1.2 here, while task 1.2 is its task 2.): an
    agent working from the plan would change the wrong task without a word."""
    tasks = {t.id: t for t in build.tasks}
    clashes: list[tuple[str, str, str]] = []
    for task in build.tasks:
        items: list[tuple[str, str]] = [(task.wanted, task.id)]
        items += [(sub.wanted, sub.id) for sub in task.subs]
        for wanted, got in items:
            named = tasks.get(wanted)
            if wanted and wanted != got and named is not None:
                clashes.append((wanted, got, named.wanted))
    if not clashes:
        return []
    wanted, got, other = clashes[0]
    kind = "task" if got in tasks else "sub-task"
    theirs = f" (the plan's {other})" if other else ""
    more = f" ({len(clashes)} such numbers)" if len(clashes) > 1 else ""
    return [
        f"Note: the plan's numbers are not the tracker's{more}: its {wanted} is {kind} "
        f"{got} here, while task {wanted} is another{theirs}. Name tasks by the tracker's "
        "IDs, as the view and `list tasks` show them"
    ]


def _refusal(source: str, doc: Doc) -> str:
    what = source or "the plan"
    empty = not any(line.strip() for line in doc.lines)
    head = f"{what} is empty" if empty else f"no task found in {what}"
    formats = "\n".join(f"  {r.telltale}" for r in READERS)
    return f"{head}: nothing was imported. Plans wtd understands:\n{formats}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
