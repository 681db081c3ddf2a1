"""``wtctl board``: a read-only web page of the workspace's trackers, live (SPEC §13).

    wtctl board [--port N] [--tracker PATH] [--socket PATH] [--no-autostart]

Serves on 127.0.0.1 (``--port 0``, the default: a free port) and prints the page's
URL with a random token; a request without that token gets 403. A thin client of
wtd over its socket (``snapshot``: read-only phrases; ``server``: the page, its
data and server-sent events fed by wtd's event stream). Standard library only
(asyncio streams): a page, two JSON resources and one event stream need no web
framework. Never imported by the one-shot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import signal
import sys
from pathlib import Path

from wtctl.args import Args, UsageError, parse_args, socket_path
from wtd import wire

USAGE = """\
usage: wtctl board [--port N] [--tracker PATH] [--socket PATH] [--no-autostart]

Serve a read-only page of the workspace's trackers (progress, tasks, claims, a chart
of progress over time), updated live, on 127.0.0.1. Open the URL it prints: its
token is the page's only key. Ctrl-C stops it.
"""


def parse(argv: list[str]) -> tuple[Args, int]:
    """The shared flags, plus ``--port N`` (0: a free port)."""
    port = 0
    rest: list[str] = []
    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        i += 1
        if name != "--port":
            rest.append(argv[i - 1])
            continue
        if not eq:
            if i >= len(argv):
                raise UsageError("--port needs a value")
            value, i = argv[i], i + 1
        if not value.isdigit() or int(value) > 65535:
            raise UsageError(f"--port takes a port number (0 for a free one), not {value!r}")
        port = int(value)
    args = parse_args(rest)
    if args.phrase_words:
        raise UsageError(f"unexpected argument {args.phrase_words[0]!r}")
    if args.skip_consent or args.json or args.show_health or args.agent or args.subagent:
        raise UsageError("only --port, --tracker, --socket and --no-autostart")
    return args, port


def where(args: Args) -> tuple[str, str | None]:
    """The workspace to show and the one tracker to show (None: all of them)."""
    from wtd.workspace import find_workspace, resolve

    cwd = Path(os.getcwd())
    if args.tracker:
        paths = resolve(args.tracker, cwd)[0]
        return str(paths.workspace), paths.name
    return str(find_workspace(cwd) or cwd), None


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    from wtd.errors import WtdError

    try:
        args, port = parse(argv)
        workspace, only = where(args)
    except UsageError as exc:
        print(f"wtctl board: {exc}\n\n{USAGE}", file=sys.stderr, end="")
        return wire.EXIT_INVALID
    except WtdError as exc:  # resolving --tracker (a path that is not a tracker's)
        print(f"wtctl board: {exc}", file=sys.stderr)
        return wire.EXIT_INVALID
    try:
        return asyncio.run(_run(socket_path(args), args.autostart, workspace, only, port))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:  # the port taken, no permission for it: said, no traceback
        print(f"wtctl board: cannot listen on port {port}: {exc.strerror or exc}", file=sys.stderr)
        if exc.errno == errno.EADDRINUSE:
            print("  (another program uses it: choose another with --port N)", file=sys.stderr)
        return wire.EXIT_FAILED


async def _run(path: str, autostart: bool, workspace: str, only: str | None, port: int) -> int:
    from wtctl import aio
    from wtctl.board.server import Board, serve
    from wtctl.board.snapshot import Refused, Source

    try:
        # subscribed before the first look: no change falls between the two
        first = await aio.subscribe(path, workspace, autostart=autostart)
        client = await aio.connect(path, autostart=False)
    except aio.Unavailable as exc:
        print(f"wtd unavailable: {exc}", file=sys.stderr)
        return wire.EXIT_UNAVAILABLE
    board = Board(Source(client, workspace, only), secrets.token_urlsafe(24), autostart=autostart)
    try:
        await board.refresh_all()
        if only is not None and not board.trackers:
            raise Refused(f"no tracker {only!r} in {workspace}")
    except Refused as exc:
        print(f"wtctl board: {exc}", file=sys.stderr)
        await first.close()
        await client.close()
        return wire.EXIT_FAILED

    def ready(url: str) -> None:
        print(f"Board: {url}", flush=True)
        print("Read-only; updated live as changes land. Ctrl-C stops it.", flush=True)

    # Ctrl-C ends the board as a stop, not as an error: the open pages' connections
    # are closed first, so that nothing is cut in the middle (no tracebacks)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
        loop.add_signal_handler(signal.SIGINT, stop.set)
    serving = asyncio.create_task(serve(board, port, path, first, ready))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            await serving  # its error, if it ended with one
    finally:
        stopping.cancel()
        board.close_all()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await client.close()
    return 0
