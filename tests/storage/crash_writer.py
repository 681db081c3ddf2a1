"""Subprocess for crash tests: writes under ``WT_FAILPOINTS`` until a ``crash`` ends it.

    python crash_writer.py journal PATH N     append records 1..N one by one
    python crash_writer.py torn PATH N        append 1..N, then die mid-line
    python crash_writer.py atomic PATH TEXT   atomic_write TEXT to PATH (point store.write)

Prints ``acked <seq>`` after each append returns, so the test knows what was promised.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import msgspec

from wtd.storage.atomic import atomic_write
from wtd.storage.failpoints import Failpoints
from wtd.storage.journal import Journal, JournalRecord, encode_line


def record(seq: int) -> JournalRecord:
    return JournalRecord(
        seq=seq,
        rid=f"rid-{seq}",
        at="2025-01-01T00:00:00Z",
        actor="crash-writer",
        before=f"h{seq - 1}",
        after=f"h{seq}",
        op=msgspec.Raw(b'{"op":"set","n":%d}' % seq),
    )


def main(argv: list[str]) -> int:
    mode, path, arg = argv[1], Path(argv[2]), argv[3]
    failpoints = Failpoints.from_env()
    if mode == "atomic":
        atomic_write(path, arg.encode(), failpoints=failpoints, point="store.write")
        return 0
    journal = Journal.open(path, failpoints=failpoints)
    for seq in range(journal.last_seq + 1, journal.last_seq + 1 + int(arg)):
        journal.append([record(seq)])
        print(f"acked {seq}", flush=True)
    if mode == "torn":
        line = encode_line(record(journal.last_seq + 1))
        os.write(os.open(path, os.O_WRONLY | os.O_APPEND), line[: len(line) // 2])
        os._exit(137)
    journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
