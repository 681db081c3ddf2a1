"""The phrase grammar: text a person or agent types → a command Struct, or a ParseError.

Pure: no I/O, no mutable state. ``parse`` never raises; every failure is a
``ParseError`` whose ``code`` is a wire error code (see ``wtd.errors.EXIT_CODES``):

- ``unknown_phrase``   — nothing matched; ``suggestions`` names the closest templates;
- ``invalid_task_id``  — a task id that is not ``X.Y`` (or a sub-task id not ``X.Y.Z``);
- ``invalid_status``   — a status no spelling of which is known (``suggestions``: nearest);
- ``invalid_argument`` — a phase number, title, evidence type … that is not acceptable;
- ``not_available``    — a phrase of the contract that this version does not implement.

Matching is case-insensitive and forgiving about extra spaces, trailing ``.``/``?``/``!``
and quotes around titles. Titles, reasons and texts are kept as typed.

The parts: ``arguments`` (ids, statuses, texts; ``ParseError``), ``grammar`` (the rules
and ``parse``) and ``templates`` (``PHRASES`` and ``suggest``). Import from
``wtd.tracker.phrases``.
"""

from __future__ import annotations

from wtd.tracker.phrases.arguments import INPUT_MAX, TEXT_MAX, TITLE_MAX, ParseError
from wtd.tracker.phrases.grammar import parse
from wtd.tracker.phrases.templates import PHRASES, suggest

__all__ = ["INPUT_MAX", "PHRASES", "TEXT_MAX", "TITLE_MAX", "ParseError", "parse", "suggest"]
