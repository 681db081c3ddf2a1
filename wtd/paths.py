"""Default locations shared by wtd and wtctl (kept import-light for the client)."""

from __future__ import annotations

import os


def default_socket() -> str:
    """``$WTD_SOCKET``, else ``$XDG_RUNTIME_DIR/wtd/wtd.sock``, else ``/tmp/wtd-$UID/wtd.sock``."""
    env = os.environ.get("WTD_SOCKET")
    if env:
        return env
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "wtd", "wtd.sock")
    return f"/tmp/wtd-{os.getuid()}/wtd.sock"
