"""Run report exports in the background and store the result in S3.

A job moves through these states::

    queued -> running -> done
                      -> failed

Jobs are never retried automatically; a failed job keeps its error message so the
user can see why and start a new export.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

CHUNK_ROWS = 10_000
FORMULA_PREFIXES = ("=", "+", "-", "@")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class ExportJob:
    id: str
    report_id: str
    columns: list[str]
    status: JobStatus = JobStatus.QUEUED
    error: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    def start(self) -> None:
        if self.status is not JobStatus.QUEUED:
            raise ValueError(f"job {self.id} is {self.status.value}, not queued")
        self.status = JobStatus.RUNNING

    def finish(self, error: str | None = None) -> None:
        self.status = JobStatus.FAILED if error else JobStatus.DONE
        self.error = error
        self.finished_at = datetime.now(UTC)


def escape_cell(value: object) -> str:
    """Return ``value`` as text that spreadsheet programs will not run as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def write_chunk(rows: list[dict[str, object]], columns: list[str], *, header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([escape_cell(row.get(name)) for name in columns])
    return buffer.getvalue().encode("utf-8")
