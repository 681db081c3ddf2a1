"""``wtctl hook pre-tool-use``: the HARD enforcement level, as a Claude Code hook (SPEC §7).

Claude Code runs this before every tool call with the PreToolUse JSON on stdin::

    {"session_id": "…", "transcript_path": "…", "cwd": "/project",
     "hook_event_name": "PreToolUse", "tool_name": "Write",
     "tool_input": {"file_path": "…", "content": "…"}, "agent_id": "…"}

Exit 2 with the reason on stderr blocks the call (Claude Code shows the reason to
the agent); exit 0 allows it. Blocked:

1. ``Write``/``Edit``/``MultiEdit``/``NotebookEdit`` of anything under a ``.ecw/``
   folder (wtd owns it), symlinks resolved;
2. ``Write`` creating a new ``docs/plans/*.md`` (a view that does not exist yet;
   editing an existing view is fine — edits sync back);
3. a ``Bash`` command that writes those paths: redirections (``>``, ``>>``, ``&>``,
   ``>|``), ``tee``, ``cp``/``mv``/``install``/``ln``/``rsync`` destinations, ``mv``
   sources, ``rm``/``rmdir``/``unlink``/``shred``/``chmod``/``chown``, ``touch``/
   ``mkdir``/``truncate``, ``sed -i``/``perl -i``, ``dd of=``, ``find … -delete``,
   ``git rm/mv/checkout/restore/clean``, interpreter one-liners (``python -c``…)
   that mention ``.ecw`` and write; ``bash -c``/``sh -c``/``eval``/``$(…)`` are
   looked into; ``cd`` within the command is followed;
4. when the input has ``agent_id`` (a subagent): a ``Bash`` command running wtctl
   with ``--skip-consent``, a restricted phrase (``create initiative``, ``delete
   tracker``, ``mark phase N S``, ``mark all tasks in phase …``) or a consent answer
   (``yes``, ``approved``, ``always``, "you may create initiatives as needed") —
   in batch mode (no phrase) the whole command text is searched — or clearing
   ``WT_SUBAGENT``.

Bad or empty input, or an unexpected failure here, never wedges the agent: exit 0
with a warning on stderr. Stdlib only (json, os, re, sys): this runs on every tool
call, so it must start fast.
"""

from __future__ import annotations

import json
import os
import re
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every tool call
if TYPE_CHECKING:
    from typing import Any

ALLOW = 0
BLOCK = 2
USAGE = "usage: wtctl hook pre-tool-use   (reads Claude Code's PreToolUse JSON on stdin)\n"

FILE_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}

ECW_WHY = (
    "wtd owns .ecw/ (tracker JSON, journal, backups, consent state); a hand-made change "
    "there bypasses it. Use wtctl to change the tracker instead, e.g. "
    'wtctl "mark task 2.2 complete" (wtctl help lists the phrases).'
)
PLAN_WHY = (
    "Tracker views are rendered by wtd from .ecw/plans/<name>.json. Create a tracker "
    'with wtctl "create initiative N called TITLE" instead (editing an existing view '
    "is fine: edits sync back)."
)
ASK_INSTEAD = (
    "Ask the main agent or the user to do it; a subagent may still read the tracker "
    'and change single tasks, e.g. wtctl --subagent "mark task 2.2 complete".'
)

# ------------------------------------------------------------------ lexing Bash

_OPERATORS = (
    "&>>", "<<-", "<<<", ";;", "&&", "||", "|&", ">>", ">|", "&>", "<<", "<>", ">&", "<&",
    ";", "&", "|", "(", ")", "<", ">", "\n",
)  # fmt: skip
_SEPARATORS = frozenset({";", ";;", "&&", "||", "&", "|", "|&", "(", ")", "\n"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
_READ_REDIRECTS = frozenset({"<", "<<", "<<-", "<<<", "<&"})


def lex(command: str) -> list[tuple[str, bool]]:
    """Split a shell command into ``(text, is_operator)`` tokens, bash-like.

    Quotes and backslashes are removed from words; ``#`` comments and here-document
    bodies are skipped; an unclosed quote runs to the end (never raises).
    """
    tokens: list[tuple[str, bool]] = []
    word: list[str] = []
    in_word = False
    quoted = False
    heredocs: list[tuple[str, bool]] = []
    want_delimiter: str | None = None
    i, n = 0, len(command)

    def flush() -> None:
        nonlocal in_word, quoted, want_delimiter
        if in_word:
            text = "".join(word)
            tokens.append((text, False))
            if want_delimiter is not None:
                heredocs.append((text, want_delimiter == "<<-"))
                want_delimiter = None
        word.clear()
        in_word = quoted = False

    while i < n:
        ch = command[i]
        if ch == "\\":
            if i + 1 < n and command[i + 1] != "\n":
                word.append(command[i + 1])
                in_word = quoted = True
            i += 2
            continue
        if ch == "'":
            end = command.find("'", i + 1)
            end = n if end < 0 else end
            word.append(command[i + 1 : end])
            in_word = quoted = True
            i = end + 1
            continue
        if ch == '"':
            j = i + 1
            while j < n and command[j] != '"':
                if command[j] == "\\" and j + 1 < n and command[j + 1] in '"\\$`':
                    j += 1
                word.append(command[j])
                j += 1
            in_word = quoted = True
            i = j + 1
            continue
        if ch in " \t\r":
            flush()
            i += 1
            continue
        if ch == "#" and not in_word:
            while i < n and command[i] != "\n":
                i += 1
            continue
        op = next((o for o in _OPERATORS if command.startswith(o, i)), None)
        if op is None:
            word.append(ch)
            in_word = True
            i += 1
            continue
        redirect = op in _WRITE_REDIRECTS or op in _READ_REDIRECTS
        if redirect and in_word and not quoted and "".join(word).isdigit():
            word.clear()  # "2>" : the digits name a file descriptor
            in_word = False
        flush()
        tokens.append((op, True))
        i += len(op)
        if op in ("<<", "<<-"):
            want_delimiter = op
        elif op == "\n" and heredocs:
            i = _skip_heredocs(command, i, heredocs)
            heredocs.clear()
    flush()
    return tokens


def _skip_heredocs(command: str, i: int, heredocs: list[tuple[str, bool]]) -> int:
    for delimiter, strip_tabs in heredocs:
        while i < len(command):
            end = command.find("\n", i)
            end = len(command) if end < 0 else end
            line = command[i:end]
            i = end + 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
    return min(i, len(command))


class Simple:
    """One simple command: its words, and the files its redirections write."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.redirect_targets: list[str] = []


def simple_commands(command: str) -> list[Simple]:
    result: list[Simple] = []
    current = Simple()
    tokens = lex(command)
    k = 0
    while k < len(tokens):
        text, is_op = tokens[k]
        k += 1
        if not is_op:
            current.words.append(text)
            continue
        if text in _SEPARATORS:
            if current.words or current.redirect_targets:
                result.append(current)
            current = Simple()
            continue
        target = tokens[k][0] if k < len(tokens) and not tokens[k][1] else None
        if target is None:
            continue
        k += 1
        if text in _WRITE_REDIRECTS and not (text == ">&" and (target.isdigit() or target == "-")):
            current.redirect_targets.append(target)
    if current.words or current.redirect_targets:
        result.append(current)
    return result


# ------------------------------------------------------------------ paths


def _norm(path: str, cwd: str) -> str:
    return os.path.normpath(os.path.join(cwd, os.path.expanduser(path)))


def _under_ecw(full: str) -> bool:
    if ".ecw" in full.split(os.sep):
        return True
    try:
        return ".ecw" in os.path.realpath(full).split(os.sep)
    except (OSError, ValueError):
        return False


def _new_plan(full: str, raw: str) -> bool:
    if any(c in raw for c in "*?[{$"):
        return False  # a pattern or a variable: cannot tell which file, do not guess
    head, name = os.path.split(full)
    docs, plans = os.path.split(head)
    return (
        name.endswith(".md")
        and plans == "plans"
        and os.path.basename(docs) == "docs"
        and not os.path.lexists(full)
    )


def path_reason(raw: str, cwd: str, *, creating: bool, subject: str) -> str | None:
    """Why writing ``raw`` (seen from ``cwd``) is blocked, or None."""
    if not raw:
        return None
    full = _norm(raw, cwd)
    if _under_ecw(full):
        return f"Blocked: {subject} {raw}, which is under .ecw/. {ECW_WHY}"
    if creating and _new_plan(full, raw):
        return f"Blocked: {subject} {raw}, a new docs/plans/*.md file. {PLAN_WHY}"
    return None


# ------------------------------------------------------------------ Bash

_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "command", "builtin", "exec", "nohup", "time", "nice", "ionice"}
    | {"timeout", "stdbuf", "xargs", "then", "do", "else", "if", "while", "until", "!", "{"}
)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_INTERPRETERS = re.compile(r"(python[0-9.]*|pypy[0-9.]*|node|ruby|perl|php|deno|bun)")
_SCRIPT_WRITES = re.compile(r"write|unlink|remove|rmtree|rename|replace|truncate", re.IGNORECASE)
# "open(" then a quoted mode w/a/x before the next ")": scanned token by token. The regex
# r"open\([^)]*['\"][wax]" took quadratic time on a script of many "open(" (13 s at 100 kB).
_OPEN_TOKENS = re.compile(r"open\(|\)|['\"][wax]", re.IGNORECASE)
_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})
_FALSY = frozenset({"", "0", "false", "no", "off"})


def _command_words(simple: Simple) -> tuple[list[str], dict[str, str]]:
    """Words without leading assignments and wrappers; the assignments seen."""
    words = simple.words
    assigned: dict[str, str] = {}
    k = 0
    while k < len(words):
        word = words[k]
        if _ASSIGNMENT.match(word):
            name, _, value = word.partition("=")
            assigned[name] = value
            k += 1
        elif os.path.basename(word) in _WRAPPERS:
            wrapper = os.path.basename(word)
            k += 1
            while k < len(words) and words[k].startswith("-"):
                if wrapper == "env" and words[k] in ("-u", "--unset") and k + 1 < len(words):
                    assigned[words[k + 1]] = ""
                    k += 1
                elif words[k].startswith("--unset="):
                    assigned[words[k].partition("=")[2]] = ""
                k += 1
            if wrapper == "timeout" and k < len(words):
                k += 1
        else:
            break
    return words[k:], assigned


def _positional(args: list[str], *, takes_value: frozenset[str] = frozenset()) -> list[str]:
    out: list[str] = []
    k = 0
    while k < len(args):
        arg = args[k]
        k += 1
        if arg == "--":
            out.extend(args[k:])
            break
        if arg.startswith("-") and arg != "-":
            if arg in takes_value:
                k += 1
            continue
        out.append(arg)
    return out


def _copy_targets(args: list[str], cwd: str) -> list[str]:
    """Destinations of cp/mv/install/ln/rsync, including dest/<name> for a folder."""
    target_dir = None
    for k, arg in enumerate(args):
        if arg in ("-t", "--target-directory") and k + 1 < len(args):
            target_dir = args[k + 1]
        elif arg.startswith("--target-directory="):
            target_dir = arg.partition("=")[2]
    paths = _positional(args, takes_value=frozenset({"-t", "--target-directory", "-S", "-m"}))
    if target_dir is None:
        if len(paths) < 2:
            return paths
        target_dir, paths = paths[-1], paths[:-1]
    if target_dir.endswith("/") or os.path.isdir(_norm(target_dir, cwd)) or len(paths) > 1:
        return [target_dir, *(os.path.join(target_dir, os.path.basename(p)) for p in paths)]
    return [target_dir]


def _writes(words: list[str], cwd: str) -> tuple[list[str], list[str]]:
    """Files a command creates or overwrites, and files it changes or deletes."""
    name = os.path.basename(words[0])
    args = words[1:]
    if name == "tee":
        return _positional(args), []
    if name in ("cp", "install", "ln", "rsync"):
        return _copy_targets(args, cwd), []
    if name == "mv":
        sources = _positional(args, takes_value=frozenset({"-t", "--target-directory", "-S"}))
        return _copy_targets(args, cwd), sources
    if name in ("touch", "mkdir", "truncate"):
        return _positional(args, takes_value=frozenset({"-s", "-r", "-m", "-d", "-t"})), []
    if name in ("rm", "rmdir", "unlink", "shred", "chmod", "chown", "chgrp"):
        return [], _positional(args)
    if name == "dd":
        return [a[3:] for a in args if a.startswith("of=")], []
    if name in ("sed", "gsed", "perl") and any(
        re.match(r"-[A-Za-z]*i", a) or a.startswith("--in-place") for a in args
    ):
        with_script = any(a in ("-e", "-f", "-E", "--expression", "--file") for a in args)
        files = _positional(args, takes_value=frozenset({"-e", "-f", "-E", "--expression", "-l"}))
        if name != "perl" and not with_script:
            files = files[1:]  # the first operand is the sed script
        return [], files
    if name == "find" and ("-delete" in args or "-exec" in args or "-execdir" in args):
        starts = []
        for arg in args:
            if arg.startswith(("-", "(", "!")):
                break
            starts.append(arg)
        return [], starts
    if name == "git" and args:
        sub = _positional(args, takes_value=frozenset({"-C", "-c"}))
        if sub and sub[0] in ("rm", "mv", "checkout", "restore", "clean"):
            return [], sub[1:]
    return [], []


def _script_writes(script: str) -> bool:
    """Does an inline program look like it writes (a write call, or ``open(…, "w")``)?"""
    if _SCRIPT_WRITES.search(script):
        return True
    in_open = False
    for token in _OPEN_TOKENS.finditer(script):
        text = token.group()
        if text == ")":
            in_open = False
        elif text[0] in "'\"":
            if in_open:
                return True
        else:
            in_open = True
    return False


# "$(" … the last ")" of its line, or `…`: the regex r"\$\((.*)\)|`([^`]*)`" took quadratic
# time on a word of many "$(" with no ")" after them; found here in one pass.
_SUBSTITUTION_STARTS = re.compile(r"\$\(|`")


def substitutions(word: str) -> list[str]:
    r"""The commands substituted in ``word``: ``$(…)`` up to the last ``)`` of its line,
    and backquoted ones, as ``re.findall(r"\$\((.*)\)|`([^`]*)`", word)`` found them."""
    found: list[str] = []
    pos = 0
    dead = -1  # up to here, no "$(" can find a ")" before the end of its line
    for start in _SUBSTITUTION_STARTS.finditer(word):
        at = start.start()
        if at < pos:
            continue
        if start.group() == "`":
            end = word.find("`", at + 1)
            if end < 0:
                continue  # the last backquote: this find is not repeated
            found.append(word[at + 1 : end])
            pos = end + 1
            continue
        if at < dead:
            continue
        line_end = word.find("\n", at)
        line_end = len(word) if line_end < 0 else line_end
        dead = line_end
        end = word.rfind(")", at + 2, line_end)
        if end >= 0:
            found.append(word[at + 2 : end])
            pos = end + 1
    return found


def _script_of(words: list[str]) -> str | None:
    """The inline program of ``python -c``/``node -e``/``bash -c``…, if any."""
    for k, arg in enumerate(words[1:], start=1):
        if arg in ("-c", "-e", "-E", "--eval", "-r") and k + 1 < len(words):
            return words[k + 1]
    return None


class _Walk:
    """Walks a Bash command (recursively into sh -c / eval / $(...)), collecting
    the first reason to block and the wtctl invocations it contains."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self.reason: str | None = None
        self.wtctl_calls: list[list[str]] = []
        self.cleared_subagent = False

    def command(self, text: str, depth: int = 0) -> None:
        if depth > 3 or self.reason is not None:
            return
        for simple in simple_commands(text):
            self.simple(simple, depth)
            if self.reason is not None:
                return

    def simple(self, simple: Simple, depth: int) -> None:
        for target in simple.redirect_targets:
            self.reason = path_reason(target, self.cwd, creating=True, subject="the command writes")
            if self.reason is not None:
                return
        words, assigned = _command_words(simple)
        if assigned.get("WT_SUBAGENT", "1").lower() in _FALSY:
            self.cleared_subagent = True
        for word in simple.words:
            for inner in substitutions(word):
                self.command(inner, depth + 1)
        if not words or self.reason is not None:
            return
        name = os.path.basename(words[0])
        if name in ("cd", "pushd") and len(words) <= 2:
            target = words[1] if len(words) == 2 else "~"
            if target != "-" and "$" not in target:
                self.cwd = _norm(target, self.cwd)
            return
        if name == "unset" and "WT_SUBAGENT" in words[1:]:
            self.cleared_subagent = True
        if name == "export":
            for word in words[1:]:
                if word.startswith("WT_SUBAGENT=") and word[12:].lower() in _FALSY:
                    self.cleared_subagent = True
        if _is_wtctl(words):
            self.wtctl_calls.append(_wtctl_args(words))
        if name in _SHELLS or name == "eval":
            inner_text = _script_of(words) if name != "eval" else " ".join(words[1:])
            if inner_text:
                self.command(inner_text, depth + 1)
                return
        if _INTERPRETERS.fullmatch(name):
            script = _script_of(words)
            if script and ".ecw" in script and _script_writes(script):
                self.reason = f"Blocked: this {name} one-liner writes under .ecw/. {ECW_WHY}"
                return
        creates, changes = _writes(words, self.cwd)
        for target in creates:
            self.reason = path_reason(target, self.cwd, creating=True, subject="the command writes")
            if self.reason is not None:
                return
        for target in changes:
            self.reason = path_reason(
                target, self.cwd, creating=False, subject="the command changes"
            )
            if self.reason is not None:
                return


# ------------------------------------------------------------------ wtctl by a subagent

_LAUNCHERS = re.compile(r"(python[0-9.]*|uv|uvx|pipx|poetry|hatch|pdm|run|-m)")
_VALUE_FLAGS = frozenset({"--tracker", "--agent", "--socket"})
_CONSENT_ANSWERS = frozenset({"yes", "approved", "always"})
_BLANKET = re.compile(r"\byou\s+may\s+create\s+initiatives\s+as\s+needed\b")
_RESTRICTED = (
    (re.compile(r"\bcreate\s+initiatives?\b"), "create initiatives"),
    (re.compile(r"\bdelete\s+(?:the\s+)?tracker\b"), "delete trackers"),
    (re.compile(r"\bmark\s+all\s+tasks\b"), "change many tasks at once"),
    (re.compile(r"\bmark\s+phase\s+\S+\s+\S"), "change many tasks at once"),
)
_ANSWER_IN_TEXT = re.compile(r"(?<![\w-])(?:yes|approved|always)(?![\w-])")


def _is_wtctl(words: list[str]) -> bool:
    for k, word in enumerate(words[:5]):
        base = os.path.basename(word)
        if base == "wtctl" or (k and words[k - 1] == "-m" and word.startswith("wtctl")):
            return all(_LAUNCHERS.fullmatch(os.path.basename(w)) for w in words[:k])
    return False


def _wtctl_args(words: list[str]) -> list[str]:
    for k, word in enumerate(words):
        if os.path.basename(word) == "wtctl" or word.startswith("wtctl."):
            return words[k + 1 :]
    return []


def _phrase_reason(phrase: str) -> str | None:
    text = " ".join(phrase.lower().strip().strip("\"'").strip(" .!?").split())
    if text in _CONSENT_ANSWERS or _BLANKET.search(text):
        return "answer consent questions or grant approval"
    for pattern, what in _RESTRICTED:
        if pattern.search(text):
            return what
    return None


def subagent_reason(walk: _Walk, command: str) -> str | None:
    """Why this Bash command, run by a subagent, is blocked (SPEC §7), or None."""
    if walk.cleared_subagent:
        return (
            "Blocked: subagents may not clear WT_SUBAGENT; the restrictions on subagents "
            "are the user's decision. " + ASK_INSTEAD
        )
    for args in walk.wtctl_calls:
        if args[:1] == ["hook"]:
            continue
        words: list[str] = []
        k = 0
        while k < len(args):
            arg = args[k]
            k += 1
            if arg == "--skip-consent":
                return (
                    "Blocked: subagents may not use --skip-consent; consent is the user's "
                    "decision. " + ASK_INSTEAD
                )
            if arg == "--":
                words.extend(args[k:])
                break
            if arg in _VALUE_FLAGS:
                k += 1
            elif not arg.startswith("-"):
                words.append(arg)
        phrase = " ".join(words)
        what = _phrase_reason(phrase) if words else _batch_reason(command)
        if what is not None:
            shown = f' (wtctl "{phrase}")' if words else " (wtctl reading phrases from stdin)"
            return f"Blocked: subagents may not {what}{shown}. " + ASK_INSTEAD
    return None


def _batch_reason(command: str) -> str | None:
    text = command.lower()
    if _BLANKET.search(text) or _ANSWER_IN_TEXT.search(text):
        return "answer consent questions or grant approval"
    for pattern, what in _RESTRICTED:
        if pattern.search(text):
            return what
    return None


# ------------------------------------------------------------------ decision


class BadInput(Exception):
    """The hook input cannot be understood; the call is allowed with a warning."""


def evaluate(payload: Any) -> str | None:
    """The reason to block this PreToolUse call, or None to allow it.

    Raises ``BadInput`` for input that is not a PreToolUse object.
    """
    if not isinstance(payload, dict):
        raise BadInput(f"expected a JSON object, got {type(payload).__name__}")
    tool = payload.get("tool_name")
    if not isinstance(tool, str):
        raise BadInput("no tool_name")
    if tool not in FILE_TOOLS and tool != "Bash":
        return None
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        raise BadInput(f"tool_input of {tool} is not an object")
    cwd = payload.get("cwd")
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        cwd = os.getcwd()
    if tool in FILE_TOOLS:
        path = tool_input.get(FILE_TOOLS[tool])
        if not isinstance(path, str):
            raise BadInput(f"{tool} without a {FILE_TOOLS[tool]}")
        return path_reason(path, cwd, creating=tool == "Write", subject=f"{tool} of")
    command = tool_input.get("command")
    if not isinstance(command, str):
        raise BadInput("Bash without a command")
    walk = _Walk(cwd)
    walk.command(command)
    if walk.reason is not None:
        return walk.reason
    if payload.get("agent_id"):
        return subagent_reason(walk, command)
    return None


def decide(raw: str) -> tuple[int, str]:
    """Exit code and stderr text for the hook input ``raw``."""
    if not raw.strip():
        return ALLOW, "wtctl hook: warning: empty input; allowing the tool call"
    try:
        payload = json.loads(raw)
        reason = evaluate(payload)
    except (ValueError, BadInput) as exc:  # json.JSONDecodeError is a ValueError
        return ALLOW, f"wtctl hook: warning: unusable input ({exc}); allowing the tool call"
    except Exception as exc:  # the boundary: a bug here must never wedge the agent
        return ALLOW, f"wtctl hook: warning: internal error ({exc!r}); allowing the tool call"
    if reason is None:
        return ALLOW, ""
    return BLOCK, reason


def _read_stdin() -> str:
    stream = sys.stdin
    if stream is None:
        return ""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        data: bytes = buffer.read()
        return data.decode("utf-8", errors="replace")
    text: str = stream.read()
    return text


def main(argv: list[str] | None = None) -> int:
    """``wtctl hook pre-tool-use``: read stdin, write the reason to stderr, return
    0 (allow) or 2 (block). A wrong subcommand returns 1 (a non-blocking error for
    Claude Code)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["pre-tool-use"]:
        sys.stderr.write(USAGE)
        return 1
    try:
        raw = _read_stdin()
    except OSError as exc:
        sys.stderr.write(f"wtctl hook: warning: cannot read stdin ({exc}); allowing\n")
        return ALLOW
    code, message = decide(raw)
    if message:
        sys.stderr.write(message + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
