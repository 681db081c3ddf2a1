"""``wtctl``: the one-shot command line and batch mode (SPEC §4).

    wtctl [--tracker PATH] [--show-health] [--verbose] [--skip-consent] [--json]
          [--agent NAME] [--subagent] [--socket PATH] [--no-autostart] "PHRASE"

The daemon does all the work (parsing, resolving, writing); this file only moves
a phrase over the socket and prints the answer, so it imports nothing heavy. What
it shares with ``wtctl events``, ``wtctl daemon`` and the REPL sits below it:
``args`` (flags, the request, the consent question), ``connection`` (the session
with wtd), ``replies`` (how a reply reads) and ``wtd.wire`` (frames, messages).
The subcommands (``events``, ``status``, ``hook``, ``git``, ``mcp``, ``board``) and the REPL are
imported only when asked for: the REPL pulls in prompt-toolkit, which the one-shot
must never pay for.
"""

from __future__ import annotations

import errno
import os
import sys

from wtctl.args import (
    BOOL_FLAGS,
    VALUE_FLAGS,
    Args,
    Question,
    UsageError,
    parse_args,
    request_for,
    socket_path,
)
from wtctl.connection import ConnectionLost, Session, Unavailable, Unsendable
from wtctl.replies import print_reply, unavailable
from wtd import __version__, wire

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the one-shot path ~4 ms
if TYPE_CHECKING:
    from typing import Any, TextIO

# tests/test_hook.py compares these with the hook's own copies
_VALUE_FLAGS = VALUE_FLAGS
_BOOL_FLAGS = BOOL_FLAGS

USAGE = """\
usage: wtctl [--tracker PATH] [--show-health] [--verbose] [--skip-consent] [--json]
             [--agent NAME] [--subagent] [--socket PATH] [--no-autostart] "PHRASE"

Talk to the wtd work-tracker daemon. Examples:
  wtctl --tracker docs/plans/my-project.md "show progress"
  wtctl "mark task 2.2 complete"
  wtctl help
  wtctl events [--all]        follow changes as NDJSON (one JSON object per line)
  wtctl daemon                is wtd running? (version, pid, uptime, socket)
  wtctl hook pre-tool-use     the Claude Code PreToolUse hook
  wtctl git setup             share trackers through git (`wtctl git help`)
  wtctl mcp [--tracker PATH]  an MCP server on stdio, for agents (needs wtd[mcp])
  wtctl board [--port N]      a live read-only web page of the trackers (127.0.0.1)
With no PHRASE and stdin not a terminal, one phrase per line is read from stdin.

exit codes: 0 done, 1 failed, 2 invalid command, 3 consent required,
            4 denied, 5 unavailable
"""


def run_phrases(args: Args, phrases: list[str] | None, out: TextIO, err: TextIO) -> int:
    """Answer one phrase (``phrases`` given) or each line of stdin (batch mode).

    In batch mode a consent question (exit 3) is answered by the next line when that
    line is a consent answer (``wtctl.args.Question``); only then does it carry the
    question's token. A question left unanswered, or declined, keeps the batch's
    exit status at 3: nothing was done without consent.
    """
    session = Session(socket_path(args), autostart=args.autostart)
    first_failure = 0
    question = Question()
    try:
        source = phrases if phrases is not None else _stdin_phrases()
        for phrase in source:
            token = question.take(phrase)
            try:
                reply = session.ask(request_for(args, phrase, token))
            except (Unavailable, ConnectionLost) as exc:
                return unavailable(exc, as_json=args.json, out=out, err=err)
            except Unsendable as exc:  # nothing was sent: this line is answered here
                reply = wire.refused_reply(wire.INVALID_ARGUMENT, str(exc))
            code = print_reply(reply, as_json=args.json, out=out, err=err)
            out.flush()
            answered = token is not None and code == 0 and not wire.declined(reply)
            question.arm(reply)
            if answered and first_failure == wire.EXIT_CONSENT:
                first_failure = 0  # the question was answered: it is no longer a failure
            if code and not first_failure:
                first_failure = code
    finally:
        session.close()
    return first_failure


def _stdin_phrases() -> Any:
    for line in sys.stdin:
        phrase = line.strip()
        if phrase and not phrase.startswith("#"):
            yield phrase


EXIT_SIGPIPE = 128 + 13
EXIT_INTERRUPTED = 128 + 2
# what writing to a stdout that cannot take the output says
_OUTPUT_ERRNOS = frozenset({errno.EIO, errno.EBADF, errno.EFBIG, errno.ENOSPC, errno.EDQUOT})


def main(argv: list[str] | None = None, *, exit_now: bool = False) -> int:
    """Run wtctl. A reader that goes away (``wtctl … | head -1``) ends it quietly,
    as it ends ``cat``: no traceback, exit status 141 (128 + SIGPIPE). Ctrl-C ends it
    with 130; an unwritable stdout (closed, disk full) with a one-line message.

    ``exit_now`` (the launcher's): a one-shot phrase ends the process here, once its
    output is flushed, without Python's shutdown — nothing is left to clean up (the
    socket closes with the process), and the shutdown is ~1.3 ms of a 10 ms call."""
    if sys.stdout is None:  # started with stdout closed (``>&-``)
        print("wtctl: standard output is closed", file=sys.stderr)
        return 1
    try:
        code = _main(argv)
        sys.stdout.flush()
        if exit_now and _one_shot:
            sys.stderr.flush()
            os._exit(code)
    except BrokenPipeError:
        _stdout_to_null()
        return EXIT_SIGPIPE
    except KeyboardInterrupt:
        # a change already sent may still be applied: the daemon answers at most once
        print("\nwtctl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS:
            raise
        _stdout_to_null()
        print(f"wtctl: cannot write the output: {exc.strerror}", file=sys.stderr)
        return 1
    return code


_one_shot = False  # the process runs one phrase and ends (``main(exit_now=True)``)


def _stdout_to_null() -> None:
    """Python would complain again when it flushes stdout at exit: point it at null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The subcommands below are imported when asked for (cost, not cycles: each
    # depends only on the modules below cli): the one-shot path never pays for them.
    if argv and argv[0] == "hook":
        from wtctl import hook

        return hook.main(argv[1:])
    if argv and argv[0] == "events":
        from wtctl import events

        return events.main(argv[1:])
    if argv and argv[0] == "git":
        from wtctl import git

        return git.main(argv[1:])
    if argv and argv[0] == "mcp":
        from wtctl import mcp  # the SDK itself only once the options are read

        return mcp.main(argv[1:])
    if argv and argv[0] == "board":
        from wtctl import board  # its server only once the options are read

        return board.main(argv[1:])
    if argv and argv[0] == "daemon":
        from wtctl import status

        return status.main(argv[1:], sys.stdout, sys.stderr)
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if argv and argv[0] == "--version":
        print(f"wtctl {__version__}")
        if "--verbose" in argv[1:]:
            fast = sys.flags.isolated and sys.flags.no_site
            start = "isolated, no site scan" if fast else "the usual start (site scan)"
            print(f"python {sys.version.split()[0]} at {sys.executable}; {start}")
        return 0
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(f"wtctl: {exc}\n\n{USAGE}", file=sys.stderr, end="")
        return wire.EXIT_INVALID
    if args.phrase_words:
        global _one_shot
        _one_shot = True
        return run_phrases(args, [" ".join(args.phrase_words)], sys.stdout, sys.stderr)
    if sys.stdin.isatty():
        from wtctl import repl  # prompt-toolkit: only for a terminal with no phrase

        return repl.main(args)
    return run_phrases(args, None, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
