"""The ECW work-tracker v2 model: immutable msgspec Structs that round-trip losslessly.

Fields we model are typed; every other key of every object is kept verbatim in
``extra`` and written back, so a tracker that carries fields from newer or other
tools loses nothing when wtd rewrites it. Optional fields that were absent stay
absent (``UNSET``). Pure: no I/O, no clock.

The parts: ``structs`` (the values, limits and errors), ``raw`` (``from_raw``,
``to_raw``), ``codec`` (bytes: ``encode``, ``Encoder``, ``decode``), ``limits`` (size
and nesting), ``derived`` (progress), ``notes`` and ``fit`` (``fit_schema``,
``migrate_v1``). Import from ``wtd.tracker.model``.
"""

from __future__ import annotations

from wtd.tracker.model.codec import (
    CHECKSUM_HEX,
    LEGACY_HEX,
    OLD_HEX,
    SHA_HEX,
    Encoder,
    checksum,
    checksum_as,
    decode,
    decode_canonical,
    encode,
    legacy_checksum,
    other_checksums,
    sha_checksum,
)
from wtd.tracker.model.derived import (
    counts,
    new_tracker,
    overall_progress,
    phase_progress,
    stale_progress,
    with_derived_progress,
)
from wtd.tracker.model.fit import (
    CONTINUED,
    MAX_TEXT,
    as_date_time,
    cut_text,
    fit_schema,
    is_date_time,
    migrate_v1,
)
from wtd.tracker.model.limits import check_depth, check_size
from wtd.tracker.model.notes import NOTES, notes_of, prepend_notes, with_notes
from wtd.tracker.model.raw import entity_from_raw, from_raw, to_raw
from wtd.tracker.model.structs import (
    MAX_BYTES,
    MAX_DEPTH,
    SCHEMA_VERSION,
    LimitExceeded,
    Meta,
    Phase,
    Subtask,
    Task,
    Tracker,
    TrackerError,
    same_objects,
)

__all__ = [
    "CHECKSUM_HEX",
    "CONTINUED",
    "LEGACY_HEX",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_TEXT",
    "NOTES",
    "OLD_HEX",
    "SCHEMA_VERSION",
    "SHA_HEX",
    "Encoder",
    "LimitExceeded",
    "Meta",
    "Phase",
    "Subtask",
    "Task",
    "Tracker",
    "TrackerError",
    "as_date_time",
    "check_depth",
    "check_size",
    "checksum",
    "checksum_as",
    "counts",
    "cut_text",
    "decode",
    "decode_canonical",
    "encode",
    "entity_from_raw",
    "fit_schema",
    "from_raw",
    "is_date_time",
    "legacy_checksum",
    "migrate_v1",
    "new_tracker",
    "notes_of",
    "other_checksums",
    "overall_progress",
    "phase_progress",
    "prepend_notes",
    "same_objects",
    "sha_checksum",
    "stale_progress",
    "to_raw",
    "with_derived_progress",
    "with_notes",
]
