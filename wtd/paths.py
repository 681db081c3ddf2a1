"""Default locations shared by wtd and wtctl (kept import-light for the client)."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the one-shot client imports this module
if TYPE_CHECKING:
    from collections.abc import Mapping


def default_socket(environ: Mapping[str, str] | None = None) -> str:
    """``$WTD_SOCKET``, else ``$XDG_RUNTIME_DIR/wtd/wtd.sock``, else ``/tmp/wtd-$UID/wtd.sock``
    (in ``environ``, by default the process's)."""
    environ = os.environ if environ is None else environ
    env = environ.get("WTD_SOCKET")
    if env:
        return env
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "wtd", "wtd.sock")
    return f"/tmp/wtd-{os.getuid()}/wtd.sock"
