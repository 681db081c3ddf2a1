"""The Markdown view of a tracker (ECW Full layout). Pure: no I/O, no clock.

``render(tracker, name=..., checksum=...)`` is deterministic: the same inputs give
the same string, byte for byte. Progress figures are always derived from task
statuses, never read from the stored ``progress`` fields.

Every piece of free text (title, names, verifications, IDs, descriptions) is written
with ``escape_cell``, a reversible escape that keeps a value on one line and inside
its table cell; ``unescape_cell`` is its inverse and is what a parser of the view
uses on any such text (table cells, headings, sub-task lines, description lines):

- ``\\`` → ``\\\\``, ``|`` → ``\\|``, ``<`` → ``\\<``, ``&`` → ``\\&``
- newline → ``<br>``; other line-breaking and control characters (C0, DEL, C1,
  U+2028, U+2029) → ``&#N;``
- whitespace at either end → ``&#N;`` (so a cell never starts or ends with spaces)

All of these are CommonMark escapes or entities, so GitHub shows the original text.
``unescape_cell`` is lenient with hand edits: any CommonMark backslash escape, any
``<br>`` spelling and any HTML entity are decoded; other text is kept as typed.

Layout (blank lines elided)::

    # Work Tracker: <title>
    > **Initiative:** … / **Status:** … / **Progress:** … / **Created:** … /
    > **Updated:** … / **Source:** …           (absent meta fields are omitted)
    ---
    ## Phases
    ### Phase N: <name>
    > **Status:** <icon> <Label>
    > **Progress:** P% (C/T tasks)
    <description>                               (only when present)
    #### Tasks
    | ID | Task | Status | Verification |      (or ``_No tasks yet._``)
    **Dependencies:** 2.2 → 2.1; 2.3 → 2.2      (only when a task has some)
    #### Sub-tasks                              (only when a task has some)
    - [x] 2.2.1: <name>
    #### Notes                                  (the phase's, its tasks', their sub-tasks')
    - **Phase 2**                               (an item per holder of notes)
      <a note line>                             (each line indented two spaces)
    - **2.2**
    - **2.2.1**
    ### Phase N: (unlisted)                     (tasks whose phase is not listed)
    ### Sub-tasks of missing tasks              (sub-tasks whose task is not listed)
    ---
    ## Claims                                   (only when a task is claimed)
    | Task | Claimed by | Until |
    ## Notes                                    (only when the tracker has notes)
    <the tracker's notes, line by line>
    ## Progress Summary
    ## Recovery Checksum

An empty Verification cell means the task has no verification.

Notes (the ``notes`` field of a phase, a task, a sub-task or the tracker, see
``model.NOTES``) are written as the person wrote them, Markdown and all, so they
render on GitHub as written: a list stays a list, a legend table a table. Only a
line that would break the layout is escaped (``escape_note``): one with a line
break or control character in it, one that starts with ``\\`` (the escape's own
mark), one that would end the Notes section (``ends_notes``), and one opening a code
fence or HTML block that nothing closes (it would swallow the rest of the view).
Trailing whitespace, and "" (paragraph breaks) at either end, are not shown
(``note_lines``).

The parts: ``layout`` (the fixed text), ``escape`` (cells and headings), ``notes``
and ``writer`` (``render``, ``Renderer``). Import from ``wtd.tracker.render``.
"""

from __future__ import annotations

from wtd.tracker.render.escape import escape_cell, heading, unescape_cell
from wtd.tracker.render.layout import (
    NOTES_HEADING,
    PHASE_HEADING,
    SUMMARY_HEADER,
    TASK_HEADER,
    TASK_NOTES_HEADING,
    UNLISTED,
)
from wtd.tracker.render.notes import ends_notes, escape_note, note_key, note_lines, unescape_note
from wtd.tracker.render.writer import Renderer, render

__all__ = [
    "NOTES_HEADING",
    "PHASE_HEADING",
    "SUMMARY_HEADER",
    "TASK_HEADER",
    "TASK_NOTES_HEADING",
    "UNLISTED",
    "Renderer",
    "ends_notes",
    "escape_cell",
    "escape_note",
    "heading",
    "note_key",
    "note_lines",
    "render",
    "unescape_cell",
    "unescape_note",
]
