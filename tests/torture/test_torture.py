"""A 30-second torture pass against the real programs (see ``runner``).

The whole mix runs, the scenarios included: wtd started as the console script, by
wtctl's autostart and by socket activation (some starts with a low fd limit or a
connection cap), clients hanging up, a second daemon for the workspace, retried
request ids, symlink traps, pathological files, floods and unfinished frames.

``WT_TORTURE_SEED`` fixes the seed (default: a fresh one, printed on failure);
``WT_TORTURE_SECONDS`` changes the length; ``WT_TORTURE_ARGS`` adds runner options
(e.g. ``--avoid second-daemon`` to look past a known bug).
"""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.torture, pytest.mark.e2e]


def test_nothing_acknowledged_is_lost_and_every_invariant_holds() -> None:
    seed = os.environ.get("WT_TORTURE_SEED") or str(random.SystemRandom().randrange(1 << 31))
    seconds = os.environ.get("WT_TORTURE_SECONDS", "30")
    argv = [sys.executable, "-m", "tests.torture.runner", "--seconds", seconds, "--seed", seed]
    argv += shlex.split(os.environ.get("WT_TORTURE_ARGS", ""))
    proc = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=float(seconds) + 240
    )
    summary = proc.stdout.strip().splitlines()[-1:] or ["(no summary)"]
    assert proc.returncode == 0, (
        f"{summary[0]}\n{proc.stderr[-12000:]}\nrerun: {' '.join(argv[1:])}"
    )
    assert " lost=0 violations=0 " in f" {summary[0]} ", summary[0]
