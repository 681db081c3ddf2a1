"""glibc malloc settings for a daemon that builds big buffers in worker threads.

A change to a big tracker builds its JSON and its view (tens of MB at 100k tasks)
in a worker thread. glibc gives each thread its own malloc arena and keeps freed
memory in it, so every worker thread ends up holding its own copy of those
buffers: measured at 100k tasks, RSS 269 MiB after 20 changes with the default
arenas, 146 MiB with one. The GIL already serialises nearly all allocation, so one
arena costs no contention.
"""

from __future__ import annotations

import sys

_M_ARENA_MAX = -8  # <malloc.h>


def one_arena() -> bool:
    """Limit glibc to one malloc arena; call before any thread starts. True if set."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, 1))
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False


def trim() -> None:
    """Give the memory glibc holds free back to the system (after rare big work, such
    as rebuilding a damaged journal of several MiB: RSS would otherwise keep its peak)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        return
