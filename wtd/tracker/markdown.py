"""Reading the Markdown view back: ``parse_view``, ``view_of``, ``diff_views``.

Pure: no I/O, no clock. A ``View`` is what a person can edit in the rendered file
(``render.render``): the title, the header fields, per phase its heading, status,
description, task rows, dependency line, sub-task checkboxes and Notes block (the
notes of the phase, its tasks and their sub-tasks), and the tracker's Notes section.
Notes are read line for line as written (``render.unescape_note``); a changed block
is one ``SetNotesEdit``. Importing a plan that is not a view is
``wtd.tracker.importers``' job. Derived figures
(progress lines, the Claims and Progress Summary tables, the Recovery Checksum) are not part of
it: they are regenerated, so editing them means nothing.

The law: ``parse_view(render(t, ...)) == view_of(t)`` for every valid tracker.

Anything ``parse_view`` cannot map is kept as an ``Unmapped`` fragment (1-based
line number, the line as written, the reason), never dropped: free text between
sections, unknown sections or headings, malformed table rows, a status cell that
names no status, a second title, ...

The parts live in ``wtd.tracker.view``: ``model`` (the View and the edits), ``syntax``
(the line patterns), ``parse`` (``parse_view``), ``derive`` (``view_of``) and ``diff``
(``diff_views``); this module is their one public face.
"""

from __future__ import annotations

from wtd.tracker.view.derive import view_of
from wtd.tracker.view.diff import diff_views
from wtd.tracker.view.model import (
    AddPhaseEdit,
    AddSubtaskEdit,
    AddTaskEdit,
    CheckSubtaskEdit,
    DeleteSubtaskEdit,
    DeleteTaskEdit,
    Edit,
    PhaseView,
    RenameEdit,
    RenamePhaseEdit,
    SetNotesEdit,
    SetPhaseStatusEdit,
    SetStatusEdit,
    SetVerificationEdit,
    SubtaskLine,
    TaskRow,
    Unmapped,
    View,
)
from wtd.tracker.view.parse import parse_view

__all__ = [
    "AddPhaseEdit",
    "AddSubtaskEdit",
    "AddTaskEdit",
    "CheckSubtaskEdit",
    "DeleteSubtaskEdit",
    "DeleteTaskEdit",
    "Edit",
    "PhaseView",
    "RenameEdit",
    "RenamePhaseEdit",
    "SetNotesEdit",
    "SetPhaseStatusEdit",
    "SetStatusEdit",
    "SetVerificationEdit",
    "SubtaskLine",
    "TaskRow",
    "Unmapped",
    "View",
    "diff_views",
    "parse_view",
    "view_of",
]
