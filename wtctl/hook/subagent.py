"""A subagent's Bash call: what it mentions, whether it is one plain wtctl call, and
whether that call's options and phrase are a subagent's to use (SPEC §7, level 4)."""

from __future__ import annotations

import os
import re

from wtctl.hook.bash import ASSIGNMENT as _ASSIGNMENT
from wtctl.hook.bash import Walk
from wtctl.hook.paths import ASK_INSTEAD

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every tool call
if TYPE_CHECKING:
    from typing import Any

# ------------------------------------------------------------------ subagents: what they mention

_MENTIONS = ("wtctl", "wtd", ".ecw", "docs/plans")
_PROGRAMS = ("wtctl", "wtd")
# wtctl and wtd as whole words: not next to a letter or digit ("_" and "-" separate words:
# WTD_SOCKET, run_wtctl.sh, wtctl-batch.sh); .ecw and docs/plans anywhere
_WHOLE = r"(?<![^\W_]){}(?![^\W_])"
# Regular expressions that only a subagent's call needs are compiled where they are used
# (re caches them): compiling them here would cost every tool call about a millisecond.
_ANSI_C = r"\$'((?:[^'\\]|\\.)*)'"
_ANSI_ESCAPE = r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.|.)"
_ANSI_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "e": "\x1b", "E": "\x1b", "a": "\a"}
_DROP_QUOTING = str.maketrans("", "", "\"'\\")
_WORD_BREAKS = r"[\s;&|()<>`$=]+"


def _ansi_escape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] in "xuU" and len(code) > 1:
        number = int(code[1:], 16)
    elif code[0] in "01234567":
        number = int(code, 8)
    elif code[0] == "c" and len(code) == 2:
        number = ord(code[1]) & 0x1F
    else:
        return _ANSI_SIMPLE.get(code, code)
    return chr(number) if number <= 0x10FFFF else ""


def _ansi_c(match: re.Match[str]) -> str:
    return re.sub(_ANSI_ESCAPE, _ansi_escape, match.group(1), flags=re.DOTALL)


def mentioned(command: str) -> str | None:
    r"""The first of ``wtctl``, ``wtd``, ``.ecw``, ``docs/plans`` that ``command``
    mentions, or None.

    Seen through the ordinary ways of spelling a word in a shell: any case, quotes and
    backslashes inside it (``w''tctl``, ``wt\ctl``, ``"wtctl"``), ANSI-C strings
    (``$'\x77tctl'``), doubled slashes (``docs//plans``), module forms (``-m wtctl``,
    ``import wtd``, ``wtctl.cli``: all contain the word) and globs that can name one of
    the programs (``.venv/bin/wt*``). Not through words computed at run time (base64,
    ``$(printf …)``, ``${x}``): that is hiding, which is outside the threat model.

    ``wtctl`` and ``wtd`` count as whole words only, not next to a letter or digit:
    ``newtdir`` and ``showtdiff.py`` mention neither. ``_`` and ``-`` separate words, so
    ``WTD_SOCKET``, ``run_wtctl.sh``, ``wtctl-batch.sh`` and ``test_wtd_x.py`` do: wtd's
    own environment variables, and the wrappers an agent names after what they run.
    """
    text = re.sub(_ANSI_C, _ansi_c, command, flags=re.DOTALL) if "$'" in command else command
    text = text.replace("\\\n", "").translate(_DROP_QUOTING).lower()  # wt\<newline>ctl
    while "//" in text or "/./" in text:
        text = text.replace("//", "/").replace("/./", "/")
    for word in _MENTIONS:
        if word in text and (word not in _PROGRAMS or re.search(_WHOLE.format(word), text)):
            return word
    if "*" in text or "?" in text or "[" in text:
        from fnmatch import fnmatchcase  # rare: a glob in a subagent's command

        for glob in re.split(_WORD_BREAKS, text):
            base = glob.rpartition("/")[2]
            if (
                any(c in base for c in "*?[")
                and any(c.isalnum() for c in base)
                and any(fnmatchcase(p, base) for p in _PROGRAMS)
            ):
                return glob
    return None


def _under_plans(full: str) -> bool:
    """Is ``full`` (normalised) under a ``docs/plans/`` folder, symlinks resolved?"""
    marker = f"{os.sep}docs{os.sep}plans{os.sep}"
    if marker in full + os.sep:
        return True
    try:
        return marker in os.path.realpath(full) + os.sep
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------ subagents: one plain wtctl call

PLAIN_WHY = (
    "A subagent's Bash command that mentions wtctl, wtd, .ecw or docs/plans must be one "
    'plain wtctl call — wtctl [options] "PHRASE", alone, with its phrase on the command '
    "line — so that the hook sees exactly what runs: it checks the phrase and marks the "
    "call as the subagent's (WT_SUBAGENT=1), and wtd enforces the subagent rules. Pipes, "
    "redirections, here-documents, variables, substitutions, several commands, wrappers "
    "(bash -c, env, xargs, python -m …) and phrases read from stdin would hide it. To read "
    "files under .ecw/ or docs/plans/, use the Read tool."
)
CONSENT_WHY = "consent is the user's decision"

_NOT_PLAIN = {
    "|": "pipes (|)",
    "&": "runs more than one command or in the background (&, &&)",
    ";": "runs more than one command (;)",
    "\n": "runs more than one command (a new line)",
    "\r": "runs more than one command (a new line)",
    "<": "redirects its input (<, << here-document, <<< here-string)",
    ">": "redirects its output (>)",
    "(": "has a subshell or process substitution ( … )",
    ")": "has a subshell or process substitution ( … )",
    "$": "expands a variable or substitutes a command ($)",
    "`": "substitutes a command (`…`)",
    "*": "has a glob the shell could expand (*, ?, [ … ]; quote the phrase)",
    "?": "has a glob the shell could expand (*, ?, [ … ]; quote the phrase)",
    "[": "has a glob the shell could expand (*, ?, [ … ]; quote the phrase)",
    "{": "has a brace expansion or group ({ … })",
    "}": "has a brace expansion or group ({ … })",
    "#": "has a comment (#)",
}


class _Refused(Exception):
    """A subagent's command is blocked; ``args[0]`` is the reason."""


def _not_plain(word: str, problem: str) -> _Refused:
    return _Refused(f"Blocked: this command mentions {word} and {problem}. {PLAIN_WHY}")


def plain_words(command: str, word: str = "wtctl") -> list[str]:
    """The words of ``command`` as bash would pass them, if it is one plain wtctl call.

    Plain: literal words only (quotes and backslashes are fine inside them), separated
    by spaces or tabs; the first word is ``wtctl`` or a path ending in ``/wtctl``,
    written without quotes. Raises ``_Refused`` naming the first thing that is not
    plain (``word`` is what the command was found to mention).
    """
    text = command.strip()
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quoted_program = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t":
            if in_word:
                words.append("".join(current))
                current.clear()
                in_word = False
            i += 1
            continue
        if text.startswith("\\\n", i):  # a line continuation: as if it were not there
            i += 2
            continue
        if ch in "\\'\"":
            quoted_program = quoted_program or not words
            in_word = True
            if ch == "\\":
                if i + 1 >= n:
                    raise _not_plain(word, "ends with a backslash")
                current.append(text[i + 1])
                i += 2
            elif ch == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise _not_plain(word, "has an unclosed quote")
                current.append(text[i + 1 : end])
                i = end + 1
            else:
                i = _double_quoted(text, i + 1, current, word)
            continue
        problem = _NOT_PLAIN.get(ch)
        if problem is not None:
            raise _not_plain(word, problem)
        current.append(ch)
        in_word = True
        i += 1
    if in_word:
        words.append("".join(current))
    program = words[0] if words else ""
    if _ASSIGNMENT.match(program) and not quoted_program:
        raise _not_plain(
            word, f"sets a variable before the program ({program.partition('=')[0]}=…)"
        )
    if quoted_program:
        raise _not_plain(word, "quotes or escapes the program's name (write wtctl plainly)")
    if not (program == "wtctl" or program.endswith("/wtctl")):
        shown = program if len(program) <= 40 else program[:39] + "…"
        raise _not_plain(word, f"runs {shown!r}, not wtctl itself")
    return words


def _double_quoted(text: str, i: int, out: list[str], word: str) -> int:
    """Append the text of a double-quoted string from ``i``; the index after it."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            return i + 1
        if ch in "$`":
            raise _not_plain(word, _NOT_PLAIN[ch])
        if ch == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _not_plain(word, "has an unclosed quote")


# ------------------------------------------------------------------ subagents: the wtctl arguments

# wtctl's own options (wtctl.cli.parse_args, mirrored: importing wtctl.cli costs every
# tool call; tests/test_hook.py checks that the two agree).
VALUE_FLAGS = frozenset({"--tracker", "--agent", "--socket"})
BOOL_FLAGS = frozenset(
    {"--show-health", "--verbose", "-v", "--skip-consent", "--json", "--subagent"}
    | {"--no-autostart"}
)
# wtctl's subcommands a subagent may run: they read (the hook itself reads its payload)
SUBCOMMANDS = frozenset({"hook", "events", "daemon", "-h", "--help", "--version"})
# and those it may not: git's merge drivers write the tracker files themselves (git runs
# them in a merge, never an agent), setup changes the repository's settings, render
# writes views; the MCP server and the board would carry the subagent's calls under
# another name
_SUBCOMMANDS_REFUSED = {
    "git": "run wtctl git (its merge drivers write the tracker files directly; git runs "
    "them during a merge, and setting git up is the user's decision)",
    "mcp": "start wtctl mcp (its calls would not carry this subagent's name)",
    "board": "start wtctl board",
}
_KIND_WHAT = {
    "create_initiative": "create initiatives",
    "delete_tracker": "delete trackers",
    "bulk_change": "change many tasks at once",
}


def check_wtctl(args: list[str], agent: str, cwd: str | None = None) -> None:
    """Raise ``_Refused`` unless wtctl ``args`` are fine for subagent ``agent`` (run
    from ``cwd``, the payload's working folder).

    Parsed as ``wtctl.cli.parse_args`` parses them: options anywhere, ``--`` ends
    them, an unknown option before the phrase is refused (a future option the hook
    does not know could change what the call does). ``--socket`` is refused (a socket
    of the subagent's choosing could start a stray wtd), and ``--tracker`` must stay in
    the workspace of ``cwd`` (a bare tracker name always does), also for subcommands.
    """
    _check_locations(args, cwd)
    if args[:1] and args[0] in SUBCOMMANDS:
        return
    if args[:2] == ["git", "check"] and len(args) == 2:  # reads only
        return
    refused = _SUBCOMMANDS_REFUSED.get(args[0]) if args else None
    if refused is not None:
        raise _Refused(f"Blocked: subagents may not {refused}. " + ASK_INSTEAD)
    phrase_words: list[str] = []
    k = 0
    while k < len(args):
        arg = args[k]
        k += 1
        if arg == "--":
            phrase_words.extend(args[k:])
            break
        name, eq, value = arg.partition("=")
        if name in VALUE_FLAGS:
            if not eq and k < len(args):
                value = args[k]
                k += 1
            if name == "--agent" and value != agent:
                raise _Refused(
                    f"Blocked: subagents may not name themselves (--agent {value}): the hook "
                    f"names this one {agent!r} (WT_AGENT), so that wtd applies its rules. "
                    + ASK_INSTEAD
                )
        elif arg == "--skip-consent":
            raise _Refused(
                f"Blocked: subagents may not use --skip-consent; {CONSENT_WHY}. " + ASK_INSTEAD
            )
        elif arg in BOOL_FLAGS:
            continue
        elif arg.startswith("-") and len(arg) > 1 and not phrase_words:
            raise _Refused(
                f"Blocked: {arg} is not a wtctl option this hook knows, so it cannot tell "
                "what the call would do. " + ASK_INSTEAD
            )
        else:
            phrase_words.append(arg)
    if not phrase_words:
        raise _Refused(
            "Blocked: a subagent's wtctl call must carry its phrase on the command line; "
            "without one wtctl starts the REPL or reads phrases from stdin, which the hook "
            'cannot check. Run e.g. wtctl "show progress".'
        )
    phrase = " ".join(phrase_words)
    what = phrase_reason(phrase)
    if what is not None:
        shown = phrase if len(phrase) <= 80 else phrase[:79] + "…"
        raise _Refused(f'Blocked: subagents may not {what} (wtctl "{shown}"). ' + ASK_INSTEAD)


def _check_locations(args: list[str], cwd: str | None) -> None:
    """Refuse ``--socket``, and a ``--tracker`` path outside the workspace of ``cwd``."""
    k = 0
    while k < len(args):
        arg = args[k]
        k += 1
        if arg == "--":
            return
        name, eq, value = arg.partition("=")
        if name not in VALUE_FLAGS:
            continue
        if not eq and k < len(args):
            value = args[k]
            k += 1
        if name == "--socket":
            raise _Refused(
                f"Blocked: subagents may not use --socket ({value}): a socket of their "
                "choosing could start a second wtd, outside the rules this workspace's wtd "
                "enforces. " + ASK_INSTEAD
            )
        if name == "--tracker" and cwd is not None:
            outside = _outside_workspace(value, cwd)
            if outside is not None:
                raise _Refused(
                    f"Blocked: --tracker {value} is outside this workspace ({outside}); a "
                    "subagent works on the trackers of the workspace it runs in (a tracker "
                    "name or a path inside it). " + ASK_INSTEAD
                )


def workspace_of(cwd: str) -> str:
    """The workspace of ``cwd`` (physical): its nearest ancestor holding ``.ecw/`` or
    ``.git``, else ``cwd`` itself."""
    start = folder = os.path.realpath(cwd)
    while True:
        if os.path.isdir(os.path.join(folder, ".ecw")) or os.path.lexists(
            os.path.join(folder, ".git")
        ):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


def _outside_workspace(value: str, cwd: str) -> str | None:
    """The workspace that the tracker path ``value`` (seen from ``cwd``) is outside of,
    or None when it is inside, or a bare tracker name."""
    if "/" not in value and not value.startswith("~") and value not in (".", ".."):
        return None
    try:
        root = workspace_of(cwd)
        full = os.path.realpath(os.path.join(cwd, os.path.expanduser(value)))
    except (OSError, ValueError):
        return cwd
    if full == root or full.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return root


CONSENT_WHAT = f"answer or change consent: {CONSENT_WHY}"
UNDO_WHAT = "undo: an undo can reverse a guarded change (set a task's status again instead)"
RESTORE_WHAT = (
    "restore a tracker: restoring a deleted tracker undoes a guarded change (delete tracker)"
)
IMPORT_WHAT = "import a plan: it creates a tracker, as create initiative does"
BARRED_WHAT = "send this phrase (wtd.vocabulary.SUBAGENT_BARRED)"
_compiled: list[tuple[re.Pattern[str], str]] = []


def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """The phrases a subagent may not send, compiled once (only subagents need them)."""
    if not _compiled:
        from wtd import vocabulary as v

        _compiled.extend((v.compile_phrase(p), _KIND_WHAT[k]) for p, k in v.GUARDED_PHRASES)
        _compiled.extend((v.compile_phrase(p), CONSENT_WHAT) for p in v.CONSENT_PHRASES)
        barred = {
            v.UNDO: UNDO_WHAT,
            getattr(v, "RESTORE_TRACKER", None): RESTORE_WHAT,
            getattr(v, "IMPORT_PLAN", None): IMPORT_WHAT,
        }
        _compiled.extend(
            (v.compile_phrase(p), barred.get(p, BARRED_WHAT)) for p in v.SUBAGENT_BARRED
        )
    return _compiled


_QUOTES = {'"': '"', "'": "'", "“": "”"}


def phrase_reason(phrase: str) -> str | None:
    """What a subagent sending ``phrase`` would do that it may not, or None.

    Normalised as ``wtd.tracker.phrases.parse`` normalises before matching (strip, one
    pair of surrounding quotes, then with and without trailing whitespace and ``.?!``);
    consent answers also as ``wtd.vocabulary.classify_answer`` forgives them.
    """
    from wtd import vocabulary

    if vocabulary.classify_answer(phrase) is not None:
        return CONSENT_WHAT
    body = phrase.strip()
    if len(body) >= 2 and _QUOTES.get(body[0]) == body[-1]:
        body = body[1:-1].strip()
    end = len(body)
    while end and (body[end - 1].isspace() or body[end - 1] in ".?!"):
        end -= 1
    cleaned = body[:end]
    for pattern, what in _patterns():
        if pattern.fullmatch(body) or pattern.fullmatch(cleaned):
            return what
    return None


_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def shell_quote(text: str) -> str:
    """``shlex.quote`` (without importing shlex on every tool call)."""
    if text and all(c in _SAFE_CHARS for c in text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


REACH_WHERE = {
    ".ecw": "under .ecw/",
    "docs/plans": "under docs/plans/",
    "docs": "a docs/ folder holding the tracker views in plans/",
}
OVER_WHY = (
    "Blocked: this command names more files than the hook resolves for a subagent (globs, "
    "braces, many paths or folders to list), so it cannot tell whether the command reaches "
    ".ecw/ or docs/plans/. Name fewer files or narrower patterns, or ask the main agent."
)


def reach_reason(walk: Walk) -> str | None:
    """Why a subagent's command that names none of the guarded words is blocked all the
    same: a word of it leads into ``.ecw/`` or ``docs/plans/`` on the file system, it
    writes from inside one, or it names too many paths to tell. None when it does not."""
    if walk.reached is not None:
        word, part, path = walk.reached
        where = REACH_WHERE.get(part, part)
        if not word:
            return (
                f"Blocked: this command writes files from {path}, {where}, and is not one "
                f"plain wtctl call. {PLAIN_WHY}"
            )
        shown = word if len(word) <= 80 else word[:79] + "…"
        return (
            f"Blocked: this command mentions {shown}, which leads to {path} ({where}), and "
            f"is not one plain wtctl call. {PLAIN_WHY}"
        )
    if walk.paths.over:
        return OVER_WHY
    return None


def subagent_bash(
    tool_input: dict[str, Any], command: str, agent: str, cwd: str, word: str | None, walk: Walk
) -> str | dict[str, Any] | None:
    """A subagent's Bash call, which mentions ``word`` (``mentioned``): None when it
    mentions none of the guarded words (as text, or as paths: ``walk`` has resolved
    them), else the reason to block it, or the hook output that allows it marked as the
    subagent's."""
    if word is None:
        return reach_reason(walk)
    try:
        words = plain_words(command, word)
        check_wtctl(words[1:], agent, cwd)
    except _Refused as refused:
        return str(refused.args[0])
    marks = f"WT_SUBAGENT=1 WT_AGENT={shell_quote(agent)}"
    updated = dict(tool_input)
    updated["command"] = f"{marks} {command.strip()}"
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow",
            "permissionDecisionReason": (
                f"wtctl hook: one plain wtctl call by subagent {agent}, checked; "
                f"run with {marks} so that wtd enforces the subagent rules"
            ),
            "updatedInput": updated,
        }
    }
