"""``wtctl git`` stays off the one-shot path, and importing it (as the daemon does, for
``driver_missing`` and ``register``) runs nothing and loads only the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _new_modules(code: str) -> list[str]:
    probe = (
        "import sys, json; before = set(sys.modules); "
        f"{code}; "
        "print(json.dumps(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] in ('wtctl', 'wtd', 'msgspec', 'anyio'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    found: list[str] = json.loads(done.stdout)
    return found


def test_importing_wtctl_git_loads_only_its_own_modules() -> None:
    assert _new_modules("import wtctl.git") == ["wtctl", "wtctl.git", "wtctl.git.setup"]


def test_the_one_shot_client_does_not_import_wtctl_git() -> None:
    assert not [m for m in _new_modules("import wtctl.cli") if m.startswith("wtctl.git")]
