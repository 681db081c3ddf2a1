"""``wtctl mcp``: a Model Context Protocol server over stdio, a thin client of wtd (SPEC §12).

    wtctl mcp [--tracker T] [--agent NAME] [--subagent] [--socket PATH] [--no-autostart]

Tools: ``progress``, ``next``, ``claim``, ``release``, ``show_task``, ``set_status``,
``add_task``, ``history``; each is one phrase sent to wtd (``calls``), so wtd's
enforcement applies unchanged. The caller is named from the MCP client (its
``clientInfo.name``) unless ``--agent`` or ``WT_AGENT`` names it. The tracker is the
one a one-shot ``wtctl`` started in the same folder would use; each tool takes a
``tracker`` too.

The server is built on the official ``mcp`` SDK, the optional extra ``wtd[mcp]``:
without it this says how to install it and exits 2. Importing this package loads
neither the SDK nor the server.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from wtctl.args import Args, UsageError, parse_args
from wtd import wire

USAGE = """\
usage: wtctl mcp [--tracker PATH] [--agent NAME] [--subagent] [--socket PATH] [--no-autostart]

Serve the Model Context Protocol on stdin/stdout (for Claude Code and other MCP clients).
The caller is named by the client's clientInfo.name unless --agent or WT_AGENT is set.
"""


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    try:
        args = parse_args(argv)
        if args.phrase_words:
            raise UsageError(f"unexpected argument {args.phrase_words[0]!r}")
        if args.skip_consent or args.json or args.show_health or args.verbose:
            raise UsageError("only --tracker, --agent, --subagent, --socket, --no-autostart")
    except UsageError as exc:
        print(f"wtctl mcp: {exc}\n\n{USAGE}", file=sys.stderr, end="")
        return wire.EXIT_INVALID
    serve = _serve()
    if serve is None:
        print(
            "wtctl mcp: the MCP SDK is not installed; it is the optional extra wtd[mcp]:\n"
            f"  {sys.executable} -m pip install 'wtd[mcp]'\n"
            "(from a checkout of wtd: pip install -e '.[mcp]')",
            file=sys.stderr,
        )
        return wire.EXIT_INVALID
    return serve(args)


def _serve() -> Callable[[Args], int] | None:
    """``wtctl.mcp.server.serve``, or None when the SDK is missing. The launcher (``bin/wtctl``)
    starts Python without the site scan: the SDK may live where only ``site`` looks."""
    for attempt in range(2):
        try:
            from wtctl.mcp import server
        except ImportError as exc:
            if not _sdk_missing(exc):
                raise
            if attempt or not sys.flags.no_site:
                return None
            import site

            site.main()
        else:
            return server.serve
    return None


def _sdk_missing(exc: ImportError) -> bool:
    """Whether what failed to import is the SDK or one of its dependencies (not wtd's own)."""
    return (exc.name or "").split(".")[0] not in ("wtctl", "wtd", "")
