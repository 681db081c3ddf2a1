"""``wtctl``: the one-shot command line and batch mode (SPEC §4).

    wtctl [--tracker PATH] [--show-health] [--verbose] [--skip-consent] [--json]
          [--agent NAME] [--subagent] [--socket PATH] [--no-autostart] "PHRASE"

The daemon does all the work (parsing, resolving, writing); this file only moves
a phrase over the socket and prints the answer, so it imports nothing heavy.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time

from wtctl.connection import (
    Connection,
    ConnectionLost,
    RequestTooLarge,
    Unavailable,
    connect,
    owner_socket,
)
from wtd.vocabulary import classify_answer

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the one-shot path ~4 ms
if TYPE_CHECKING:
    from typing import Any, TextIO

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
With no PHRASE and stdin not a terminal, one phrase per line is read from stdin.

exit codes: 0 done, 1 failed, 2 invalid command, 3 consent required,
            4 denied, 5 unavailable
"""

# Error codes whose suggestions are alternatives to what was typed (others are remedies).
_ALTERNATIVES = frozenset(
    {"unknown_phrase", "invalid_status", "invalid_task_id", "invalid_argument", "not_found"}
)
EXIT_USAGE = 2
EXIT_CONSENT = 3
EXIT_UNAVAILABLE = 5
RETRIES_AFTER_LOSS = 2
OWNER_RETRIES = (0.1, 0.3, 0.6)
UNKNOWN_RETRIES = (0.2, 1.0)  # seconds between tries when the owning wtd is unreachable


class Args:
    def __init__(self) -> None:
        self.tracker: str | None = os.environ.get("WT_TRACKER") or None
        self.show_health = False
        self.verbose = False
        self.skip_consent = False
        self.json = False
        self.agent: str | None = os.environ.get("WT_AGENT") or None
        marked = os.environ.get("WT_SUBAGENT", "").strip().lower()
        self.subagent = marked not in ("", "0", "false", "no", "off")
        self.socket: str | None = None
        self.autostart = True
        self.phrase_words: list[str] = []


class UsageError(Exception):
    pass


_VALUE_FLAGS = {"--tracker": "tracker", "--agent": "agent", "--socket": "socket"}
_BOOL_FLAGS = {
    "--show-health": "show_health",
    "--verbose": "verbose",
    "-v": "verbose",
    "--skip-consent": "skip_consent",
    "--json": "json",
    "--subagent": "subagent",
}


def parse_args(argv: list[str]) -> Args:
    args = Args()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.phrase_words.extend(argv[i:])
            break
        name, eq, value = arg.partition("=")
        if name in _VALUE_FLAGS:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"{name} needs a value")
                value = argv[i]
                i += 1
            if not value:
                raise UsageError(f"{name} needs a non-empty value")
            setattr(args, _VALUE_FLAGS[name], value)
        elif arg in _BOOL_FLAGS:
            setattr(args, _BOOL_FLAGS[arg], True)
        elif arg == "--no-autostart":
            args.autostart = False
        elif arg.startswith("-") and len(arg) > 1 and not args.phrase_words:
            raise UsageError(f"unknown option {arg}")
        else:
            args.phrase_words.append(arg)
    return args


def socket_path(args: Args) -> str:
    if args.socket:
        return os.path.abspath(args.socket)
    from wtd.paths import default_socket

    return default_socket()


def command_message(args: Args, phrase: str, consent_token: str | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if consent_token:
        options["consent_token"] = consent_token
    for key in ("show_health", "verbose", "skip_consent", "subagent"):
        if getattr(args, key):
            options[key] = True
    if args.agent:
        options["agent"] = args.agent
    message: dict[str, Any] = {
        "type": "command",
        "id": os.urandom(12).hex(),
        "phrase": phrase,
        "cwd": os.getcwd(),
        "options": options,
    }
    if args.tracker:
        message["tracker"] = args.tracker
    return message


class Session:
    """One connection, re-established (same request id) if the daemon restarts mid-request."""

    def __init__(self, args: Args) -> None:
        self.args = args
        self.path = socket_path(args)
        self.conn: Connection | None = None

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        reply = self._ask(message)
        for pause in UNKNOWN_RETRIES:  # wtd failed mid-request: the same id settles it
            if (reply.get("error") or {}).get("code") != "outcome_unknown":
                break
            time.sleep(pause)
            reply = self._ask(message)
        for pause in OWNER_RETRIES:
            owner = owner_socket(reply, self.path)
            if owner is None:
                return reply
            # Another wtd owns this workspace (another shell's socket): the same request,
            # same id, goes to it, and so does the rest of this session (SPEC §2).
            try:
                moved = connect(owner, autostart=False)
            except (Unavailable, ConnectionLost):
                # unreachable: it may be stopping (its lock goes with it); ask again here
                time.sleep(pause)
                reply = self._ask(message)
                continue
            self.close()
            self.conn, self.path = moved, owner
            self.args.autostart = False
            return self._ask(message)
        return reply  # its message names the owner's socket

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(RETRIES_AFTER_LOSS + 1):
            if self.conn is None:
                self.conn = connect(self.path, autostart=self.args.autostart)
            try:
                return self.conn.request(message)
            except ConnectionLost:
                self.conn.close()
                self.conn = None
                if attempt == RETRIES_AFTER_LOSS:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def print_reply(reply: dict[str, Any], *, as_json: bool, out: TextIO, err: TextIO) -> int:
    if reply.get("type") != "reply":
        message = reply.get("message", "unexpected answer from wtd")
        if as_json:
            _print_json(
                out,
                False,
                None,
                {"code": reply.get("code", "bad_reply"), "message": message, "suggestions": []},
                [],
                None,
                reply,
            )
        else:
            print(f"wtctl: {message}", file=err)
        return EXIT_UNAVAILABLE if reply.get("code") == "denied" else 1
    exit_code = int(reply.get("exit_code", 1))
    error = reply.get("error")
    if as_json:
        _print_json(
            out,
            bool(reply.get("ok")),
            reply.get("result"),
            error,
            reply.get("healing", []),
            reply.get("health"),
            reply,
        )
        return exit_code
    for line in reply.get("healing", []):
        print(line, file=out)
    for line in reply.get("lines", []):
        print(line, file=out)
    if error:
        print(error["message"], file=err)
        suggestions = [s for s in error.get("suggestions", []) if s not in error["message"]]
        if suggestions and error.get("code") in _ALTERNATIVES:
            quoted = " or ".join(f"'{s}'" for s in suggestions)
            print(f"Did you mean {quoted}?", file=err)
        elif suggestions:
            for hint in suggestions:
                print(f"Hint: {hint}", file=err)
    for line in reply.get("health_lines", []):
        print(line, file=out)
    return exit_code


def _print_json(
    out: TextIO,
    ok: bool,
    result: Any,
    error: dict[str, Any] | None,
    healing: list[str],
    health: Any,
    reply: dict[str, Any],
) -> None:
    doc = {
        "schema": 1,
        "ok": ok,
        "result": result,
        "error": error,
        "healing": healing,
        "health": health,
        "lines": reply.get("lines", []),
        "tracker": reply.get("tracker"),
    }
    out.write(json.dumps(doc, ensure_ascii=False) + "\n")


def unavailable(exc: Exception, args: Args, out: TextIO, err: TextIO) -> int:
    message = f"wtd unavailable: {exc}"
    if args.json:
        _print_json(
            out,
            False,
            None,
            {"code": "unavailable", "message": message, "suggestions": []},
            [],
            None,
            {},
        )
    else:
        print(message, file=err)
    return EXIT_UNAVAILABLE


def run_phrases(args: Args, phrases: list[str] | None, out: TextIO, err: TextIO) -> int:
    """Answer one phrase (``phrases`` given) or each line of stdin (batch mode).

    In batch mode a consent question (exit 3) is answered by the next line when that
    line is a consent answer (``wtd.vocabulary``); only then does it carry the
    question's token. A question left unanswered, or declined, keeps the batch's
    exit status at 3: nothing was done without consent.
    """
    session = Session(args)
    first_failure = 0
    waiting: str | None = None  # the consent token of the last question, for the answer
    try:
        source = phrases if phrases is not None else _stdin_phrases()
        for phrase in source:
            answering = waiting is not None and classify_answer(phrase) is not None
            token = waiting if answering else None
            try:
                reply = session.ask(command_message(args, phrase, token))
            except (Unavailable, ConnectionLost) as exc:
                return unavailable(exc, args, out, err)
            except RequestTooLarge as exc:
                reply = {
                    "type": "reply",
                    "ok": False,
                    "exit_code": EXIT_USAGE,
                    "error": {"code": "invalid_argument", "message": str(exc)},
                }
            code = print_reply(reply, as_json=args.json, out=out, err=err)
            out.flush()
            result = reply.get("result")
            declined = isinstance(result, dict) and result.get("declined") is True
            answered = answering and code == 0 and not declined
            waiting = consent_token_of(reply)
            if answered and first_failure == EXIT_CONSENT:
                first_failure = 0  # the question was answered: it is no longer a failure
            if code and not first_failure:
                first_failure = code
    finally:
        session.close()
    return first_failure


def consent_token_of(reply: dict[str, Any]) -> str | None:
    """The token a consent question carries, so that the next phrase can answer it."""
    error = reply.get("error") or {}
    result = reply.get("result")
    if error.get("code") == "consent_required" and isinstance(result, dict):
        token = result.get("consent_token")
        return token if isinstance(token, str) else None
    return None


def daemon_status(argv: list[str], out: TextIO, err: TextIO) -> int:
    """``wtctl daemon [--socket PATH] [--json]``: report whether wtd runs; never starts it."""
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(f"wtctl daemon: {exc}", file=err)
        return EXIT_USAGE
    path = socket_path(args)
    try:
        conn = connect(path, autostart=False)
        try:
            pong = conn.request({"type": "ping", "id": "status"})
        finally:
            conn.close()
    except (Unavailable, ConnectionLost):
        if args.json:
            out.write(json.dumps({"running": False, "socket": path}) + "\n")
        else:
            print(f"wtd is not running (nothing answers on {path})", file=out)
        return EXIT_UNAVAILABLE
    uptime = float(pong.get("uptime_s", 0))
    if args.json:
        out.write(
            json.dumps(
                {
                    "running": True,
                    "version": pong.get("server"),
                    "pid": pong.get("pid"),
                    "uptime_s": uptime,
                    "socket": path,
                }
            )
            + "\n"
        )
        return 0
    minutes, seconds = divmod(int(uptime), 60)
    hours, minutes = divmod(minutes, 60)
    print(f"{pong.get('server')} is running (pid {pong.get('pid')})", file=out)
    print(f"  socket: {path}", file=out)
    print(f"  uptime: {hours}h {minutes:02d}m {seconds:02d}s", file=out)
    return 0


def _stdin_phrases() -> Any:
    for line in sys.stdin:
        phrase = line.strip()
        if phrase and not phrase.startswith("#"):
            yield phrase


EXIT_SIGPIPE = 128 + 13
EXIT_INTERRUPTED = 128 + 2
# what writing to a stdout that cannot take the output says
_OUTPUT_ERRNOS = frozenset({errno.EIO, errno.EBADF, errno.EFBIG, errno.ENOSPC, errno.EDQUOT})


def main(argv: list[str] | None = None) -> int:
    """Run wtctl. A reader that goes away (``wtctl … | head -1``) ends it quietly,
    as it ends ``cat``: no traceback, exit status 141 (128 + SIGPIPE). Ctrl-C ends it
    with 130; an unwritable stdout (closed, disk full) with a one-line message."""
    if sys.stdout is None:  # started with stdout closed (``>&-``)
        print("wtctl: standard output is closed", file=sys.stderr)
        return 1
    try:
        code = _main(argv)
        sys.stdout.flush()
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


def _stdout_to_null() -> None:
    """Python would complain again when it flushes stdout at exit: point it at null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "hook":
        from wtctl import hook

        return hook.main(argv[1:])
    if argv and argv[0] == "events":
        from wtctl import events

        return events.main(argv[1:])
    if argv and argv[0] == "daemon":
        return daemon_status(argv[1:], sys.stdout, sys.stderr)
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if argv and argv[0] == "--version":
        from wtd import __version__

        print(f"wtctl {__version__}")
        return 0
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(f"wtctl: {exc}\n\n{USAGE}", file=sys.stderr, end="")
        return EXIT_USAGE
    if args.phrase_words:
        return run_phrases(args, [" ".join(args.phrase_words)], sys.stdout, sys.stderr)
    if sys.stdin.isatty():
        from wtctl import repl

        return repl.main(args)
    return run_phrases(args, None, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
