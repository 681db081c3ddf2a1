"""Where the REPL keeps its line history (SPEC §9)."""

from __future__ import annotations

import os
from pathlib import Path

from prompt_toolkit.history import FileHistory, History


def history_path(env: dict[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/wtctl/history`` (default ``~/.local/state/wtctl/history``)."""
    env = dict(os.environ) if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    state = env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return Path(state) / "wtctl" / "history"


def file_history(path: Path | None = None) -> History:
    path = path or history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileHistory(str(path))
