"""How a reply reads, once: the one-shot prints it (stdout/stderr, or ``--json``),
the REPL colours it (``wtctl.styles.format_reply``); both walk it with ``parts``.

Stdlib only: the one-shot path imports this on every call; ``json`` only for
``--json`` (it costs an ordinary call ~7 ms to import).
"""

from __future__ import annotations

from wtd import wire

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the one-shot path ~4 ms
if TYPE_CHECKING:
    from typing import Any, TextIO

# Error codes whose suggestions are alternatives to what was typed (others are remedies).
ALTERNATIVES = frozenset(
    {"unknown_phrase", "invalid_status", "invalid_task_id", "invalid_argument", "not_found"}
)

# What each part of a reply is (``parts``).
HEALING = "healing"  # what self-healing did, before the result
LINE = "line"  # the result
ERROR = "error"  # why it failed
CONSENT = "consent"  # the question a consent_required error asks
HINT = "hint"  # "Did you mean …?" / "Hint: …"
HEALTH = "health"  # --show-health's lines, after the result
TO_STDERR = frozenset({ERROR, CONSENT, HINT})


def parts(reply: dict[str, Any], *, repeat_error: bool = True) -> list[tuple[str, str]]:
    """``reply`` as (what, text) lines in the order they are shown. ``repeat_error``:
    show the error's message even when the result's lines already say it."""
    if wire.kind(reply) != wire.REPLY:
        text = wire.refusal(reply, "unexpected answer from wtd")
        return [(ERROR, f"wtctl: {text}")]
    out = [(HEALING, text) for text in wire.healing(reply)]
    out += [(LINE, text) for text in wire.lines(reply)]
    error = wire.error(reply)
    if error:
        code, message = wire.error_code(reply), error["message"]
        if repeat_error or message not in wire.lines(reply):
            out.append((CONSENT if code == wire.CONSENT_REQUIRED else ERROR, message))
        suggestions = [s for s in wire.suggestions(error) if s not in message]
        if suggestions and code in ALTERNATIVES:
            quoted = " or ".join(f"'{s}'" for s in suggestions)
            out.append((HINT, f"Did you mean {quoted}?"))
        else:
            out += [(HINT, f"Hint: {hint}") for hint in suggestions]
    out += [(HEALTH, text) for text in wire.health_lines(reply)]
    return out


def print_reply(reply: dict[str, Any], *, as_json: bool, out: TextIO, err: TextIO) -> int:
    """Print ``reply`` as the one-shot does; the exit status it calls for."""
    if as_json:
        print_json(out, reply)
    else:
        for what, text in parts(reply):
            print(text, file=err if what in TO_STDERR else out)
    if wire.kind(reply) != wire.REPLY:
        denied = wire.refusal_code(reply) == wire.DENIED
        return wire.EXIT_UNAVAILABLE if denied else wire.EXIT_FAILED
    return wire.exit_status(reply)


def print_json(out: TextIO, reply: dict[str, Any]) -> None:
    """The ``--json`` document for ``reply`` (SPEC §4): one object, one line."""
    if wire.kind(reply) != wire.REPLY:
        message = wire.refusal(reply, "unexpected answer from wtd")
        code = wire.refusal_code(reply, "bad_reply")
        write_json(out, error=wire.error_info(code, message), reply=reply)
        return
    write_json(
        out,
        ok=wire.ok(reply),
        result=wire.result(reply),
        error=reply.get("error"),
        healing=wire.healing(reply),
        health=wire.health(reply),
        reply=reply,
    )


def write_json(
    out: TextIO,
    *,
    error: dict[str, Any] | None,
    ok: bool = False,
    result: Any = None,
    healing: list[str] | None = None,
    health: Any = None,
    reply: dict[str, Any] | None = None,
) -> None:
    import json  # only --json prints JSON (wtd.wire reads replies without it)

    reply = reply or {}
    doc = {
        "schema": wire.REPLY_SCHEMA,
        "ok": ok,
        "result": result,
        "error": error,
        "healing": healing or [],
        "health": health,
        "lines": wire.lines(reply),
        "tracker": wire.tracker(reply),
    }
    out.write(json.dumps(doc, ensure_ascii=False) + "\n")


def unavailable(exc: Exception, *, as_json: bool, out: TextIO, err: TextIO) -> int:
    """Say that no daemon answers (exit 5)."""
    message = f"wtd unavailable: {exc}"
    if as_json:
        code = wire.OUTCOME_UNKNOWN if type(exc).__name__ == "OutcomeUnknown" else wire.UNAVAILABLE
        write_json(out, error=wire.error_info(code, message))
    else:
        print(message, file=err)
    return wire.EXIT_UNAVAILABLE
