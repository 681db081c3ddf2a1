"""From the command line and a phrase to the request: the flags (SPEC §4), parsed
once for the one-shot, ``events``, ``daemon`` and the REPL; the request each phrase
becomes; and the consent question whose token the next phrase may carry.

``Question`` (SPEC §7): a ``consent_required`` reply that carries a
``consent_token`` arms it; the next phrase carries the token (as
``options.consent_token``) only when it is a consent answer (``yes``, ``approved``,
``always``, ``no``: ``wtd.vocabulary``); any other phrase drops the question (it is
asked again if that command is). Batch mode and the REPL both answer this way.

Stdlib only: the one-shot path imports this on every call.
"""

from __future__ import annotations

import os

from wtd import wire

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the one-shot path ~4 ms
if TYPE_CHECKING:
    from typing import Any


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


# The hook (``wtctl.hook``) keeps its own copy of these names: a test keeps them equal.
VALUE_FLAGS = {"--tracker": "tracker", "--agent": "agent", "--socket": "socket"}
BOOL_FLAGS = {
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
        if name in VALUE_FLAGS:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"{name} needs a value")
                value = argv[i]
                i += 1
            if not value:
                raise UsageError(f"{name} needs a non-empty value")
            setattr(args, VALUE_FLAGS[name], value)
        elif arg in BOOL_FLAGS:
            setattr(args, BOOL_FLAGS[arg], True)
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
    from wtd.paths import default_socket  # (cost: only when no --socket is given)

    return default_socket()


def request_for(args: Args, phrase: str, consent_token: str | None = None) -> dict[str, Any]:
    """The request that runs ``phrase`` with the command line's options."""
    return wire.request(
        phrase,
        cwd=os.getcwd(),
        tracker=args.tracker,
        show_health=args.show_health,
        verbose=args.verbose,
        skip_consent=args.skip_consent,
        subagent=args.subagent,
        agent=args.agent,
        consent_token=consent_token,
    )


class Question:
    """The consent question last asked, until the next phrase answers or drops it."""

    def __init__(self) -> None:
        self.token: str | None = None

    def take(self, phrase: str) -> str | None:
        """The token to send with ``phrase`` (None unless it answers); either way the
        question is no longer waiting."""
        token = self.token if self.token is not None and is_answer(phrase) else None
        self.token = None
        return token

    def arm(self, reply: dict[str, Any]) -> None:
        """Wait for an answer to the question ``reply`` asks (if it asks one)."""
        self.token = wire.consent_token(reply)

    def drop(self) -> None:
        self.token = None


def is_answer(phrase: str) -> bool:
    # imported only once a question waits: a one-shot phrase never needs the vocabulary
    from wtd.vocabulary import classify_answer

    return classify_answer(phrase) is not None
