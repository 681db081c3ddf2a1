"""The workspace lock (SPEC §2): what a daemon out of file descriptors says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, os, resource, sys
from pathlib import Path
from wtd.errors import StorageFailure
from wtd.storage.ownership import Ownership

ws = Path(sys.argv[1])
owner = Ownership(Path(sys.argv[2]))
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
try:
    owner.claim(ws, create=True)
except StorageFailure as exc:
    print(json.dumps({"error": exc.message, "suggestions": exc.suggestions}))
else:
    print(json.dumps({"claimed": True}))
"""


def test_a_lock_that_cannot_be_opened_for_want_of_descriptors_is_a_clear_refusal(
    tmp_path: Path,
) -> None:
    """Not an unexpected error with a traceback: a storage failure that says what
    happened and what to do, and nothing is claimed."""
    ws = tmp_path / "project"
    (ws / ".ecw").mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ws), str(tmp_path / "wtd.sock")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    said = json.loads(proc.stdout)
    assert "Too many open files" in said["error"] and "nothing was changed" in said["error"]
    assert any("LimitNOFILE" in line for line in said["suggestions"])
    assert not (ws / ".ecw" / "wtd.lock").exists()


def test_a_look_at_held_locks_never_waits_for_a_claim_in_progress(tmp_path: Path) -> None:
    # still_owned runs on the event loop: a claim in a worker thread may wait seconds
    # for a stopping owner while it holds the lock, and every request stalled behind it
    import threading

    from wtd.storage import ownership as own

    mine = own.Ownership(tmp_path / "wtd.sock")
    ws = tmp_path / "ws"
    ws.mkdir()
    assert mine.claim(ws, create=True)
    for held in mine._held.values():
        held.checked = 0.0  # due for a look
    with mine._lock:  # a claim in progress elsewhere
        done = threading.Event()
        result: list[bool] = []

        def look() -> None:
            result.append(mine.still_owned(ws))
            done.set()

        worker = threading.Thread(target=look)
        worker.start()
        assert done.wait(5), "still_owned waited for the claim in progress"
    worker.join()
    assert result == [True]
    (ws / ".ecw" / "wtd.lock").unlink()
    for held in mine._held.values():
        held.checked = 0.0
    assert mine.still_owned(ws)
    assert json.loads((ws / ".ecw" / "wtd.lock").read_text())["pid"] > 0  # made again
    mine.release_all()


def test_a_folder_where_the_lock_file_goes_is_told_with_what_to_do(tmp_path: Path) -> None:
    from wtd.errors import StorageFailure
    from wtd.storage.ownership import Ownership

    (tmp_path / ".ecw" / "wtd.lock").mkdir(parents=True)
    try:
        Ownership(tmp_path / "wtd.sock").claim(tmp_path, create=True)
    except StorageFailure as exc:
        assert "Is a directory" in exc.message
        assert exc.suggestions == [
            "remove the folder .ecw/wtd.lock (wtd's lock is a file it makes)"
        ]
    else:
        raise AssertionError("claimed a workspace whose lock file is a folder")
