"""Cursor Plan Mode plans (``*.plan.md``, in ``~/.cursor/plans/`` or saved to the workspace).

The tasks are the ``todos`` of the YAML front matter, in order: ``content`` is the name,
``id`` the file's ID (``x_source_id``), ``status`` one of pending, in_progress,
completed, cancelled (skipped), ``dependencies`` a list of todo ids. ``name`` is the
title when the body has no ``#`` heading; ``createdAt`` is ``meta.created``; the other
keys (``overview``, ``isProject`` …) and the whole Markdown body are kept as notes —
even the body's ``## Phase 1 — …`` headings, which hold no tasks: one implied phase.
Front matter in YAML this reader does not support is kept as notes too.

Older plans have no front matter (an HTML comment of two UUIDs on line 1) and end with
a ``### To-dos`` checkbox list: those checkboxes are the tasks, the rest notes.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import common, frontmatter, lists, syntax
from wtd.tracker.importers.build import LAYOUT, META, TASK, Build, TaskB
from wtd.tracker.importers.frontmatter import Entry, YamlError

NAME: Final = "cursor"
TELLTALE: Final = (
    "cursor      YAML front matter with `todos:` (id, content, status, dependencies); "
    "or a final `### To-dos` list"
)

_TODOS: Final = re.compile(r"todos[ \t]*+:")
_UUID_COMMENT: Final = re.compile(r"<!--[ \t]*+[0-9a-f]{8}-[0-9a-f]{4}-")
_STATUS: Final = {"completed": "complete", "cancelled": "skipped", "canceled": "skipped"}


def _todos_heading(doc: syntax.Doc) -> int:
    """The index of the ``### To-dos`` heading when no checkbox comes before it, else -1."""
    for i in range(doc.front, len(doc)):
        if doc.code[i]:
            continue
        s = doc.lines[i].strip()
        if s.lower() in ("### to-dos", "### todos", "### to dos"):
            return i
        if doc.box(i) is not None:
            return -1
    return -1


def detect(doc: syntax.Doc) -> int:
    """Certain for front matter with a ``todos:`` key; else 3 per checkbox under a
    ``### To-dos`` heading that no checkbox precedes (10 more for the UUID comment)."""
    if any(_TODOS.match(doc.lines[i]) for i in range(1, max(1, doc.front - 1))):
        return syntax.CERTAIN
    start = _todos_heading(doc)
    if start < 0:
        return 0
    boxes = sum(1 for i in range(start + 1, len(doc)) if doc.box(i) is not None)
    bonus = 10 if doc.lines and _UUID_COMMENT.match(doc.lines[0].strip()) else 0
    return 3 * boxes + bonus if boxes else 0


def read(doc: syntax.Doc, build: Build) -> None:
    read_body = True
    if doc.front:
        body = doc.lines[1 : doc.front - 1]
        try:
            entries = frontmatter.parse(body)
        except YamlError as exc:
            common.front_matter(doc, build)
            build.report(
                exc.line + 2, doc.lines[exc.line + 1], f"front matter kept as notes: {exc}"
            )
        else:
            build.layout(1)
            build.layout(doc.front)
            _front(doc, build, entries)
            for k in range(1, doc.front - 1):  # comments, which no entry spans
                if not build.roles[k + 1] and doc.lines[k].strip():
                    build.note(k + 1, doc.lines[k])
            read_body = not build.tasks
    start = _todos_heading(doc) if read_body else -1
    for i in range(doc.front, len(doc)):
        line = doc.lines[i]
        if not line.strip():
            continue
        if start >= 0 and i >= start:
            _to_dos(doc, build, start)
            return
        if line.startswith("# ") and not doc.code[i] and build.title(i + 1, line[2:].strip()):
            continue
        build.note(i + 1, line)


def _front(doc: syntax.Doc, build: Build, entries: list[Entry]) -> None:
    has_h1 = any(
        not doc.code[i] and doc.lines[i].startswith("# ") for i in range(doc.front, len(doc))
    )
    for entry in entries:
        key = entry.key.lower()
        value = frontmatter.scalar(entry)
        if key == "todos":
            build.layout(entry.first + 2)
            for item in frontmatter.sequence_items(entry):
                _todo(doc, build, item)
            continue
        if (
            key in ("name", "title")
            and value
            and not has_h1
            and build.title(entry.first + 2, value)
        ):
            continue
        if key in ("createdat", "created", "updatedat", "updated") and value is not None:
            label = "created" if key.startswith("created") else "updated"
            if build.meta_field(label, value):
                build.mark(entry.first + 2, META)
                continue
        _keep(doc, build, entry, None)


def _keep(doc: syntax.Doc, build: Build, entry: Entry, task: TaskB | None) -> None:
    """The lines of ``entry`` as notes (of ``task``, without their indentation)."""
    for k in range(entry.first, entry.last + 1):
        line = doc.lines[k + 1]
        if line.strip():
            build.note(k + 2, line, task, strip=task is not None)


def _todo(doc: syntax.Doc, build: Build, item: Entry) -> None:
    n = item.first + 2
    if not item.mapping or not isinstance(item.value, list):
        build.unknown(n, doc.lines[item.first + 1], "a todo that is not a mapping")
        return
    fields = {e.key: e for e in item.value}
    content = frontmatter.scalar(fields.get("content")) or ""
    todo_id = frontmatter.scalar(fields.get("id")) or ""
    given = frontmatter.scalar(fields.get("status")) or ""
    word = given.strip().lower()
    status = build.vocab.word(_STATUS.get(word, word)) if word else "pending"
    name = " ".join(content.split()) or todo_id or "Untitled todo"
    task = build.task(n, name, status or "pending", wanted=todo_id)
    for entry in item.value:
        taken = entry.key in ("content", "id", "status")
        if entry.key == "dependencies":
            deps = [frontmatter.scalar(d) for d in frontmatter.sequence_items(entry)]
            if all(deps):
                task.deps.extend(d for d in deps if d)
                taken = True
        if not taken:
            _keep(doc, build, entry, task)
            continue
        for k in range(entry.first, entry.last + 1):
            build.mark(k + 2, TASK)
    if status is None:
        build.report(n, doc.lines[fields["status"].first + 1], f"unknown status {given!r}")
        build.note(n, f"status: {given}", task)


def _to_dos(doc: syntax.Doc, build: Build, start: int) -> None:
    """The older layout: the checkboxes after ``### To-dos`` are the tasks."""
    h = syntax.heading(doc.lines[start].strip())
    phase = build.phase(start + 1, h[1] if h is not None else "To-dos")
    task: TaskB | None = None
    indent = 0
    for i in range(start + 1, len(doc)):
        line = doc.lines[i]
        n = i + 1
        if not line.strip():
            continue
        box = doc.box(i)
        if box is not None and box.text.strip():
            item = lists.plain_item(box.text)
            status = build.vocab.mark(box.mark)
            if task is not None and box.indent > indent:
                build.subtask(n, task, item.name, status, wanted=item.wanted)
            else:
                task = build.task(n, item.name, status, wanted=item.wanted, phase=phase)
                indent = box.indent
        elif task is not None and syntax.indent(line) > indent:
            build.note(n, line, task, strip=True)
        else:
            build.note(n, line, phase)
    if not build.tasks:
        build.mark(start + 1, LAYOUT)
