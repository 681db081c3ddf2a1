"""``wtctl hook pre-tool-use``: the HARD enforcement level, as a Claude Code hook (SPEC §7).

Claude Code runs this before every tool call with the PreToolUse JSON on stdin::

    {"session_id": "…", "transcript_path": "…", "cwd": "/project",
     "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
     "tool_input": {"command": "…", "description": "…"}, "tool_use_id": "toolu_…",
     "agent_id": "…", "agent_type": "Explore"}

``agent_id`` is present only when the call comes from a subagent (``agent_type`` alone
also appears on the main thread of a ``--agent`` session: that is not a subagent).
Exit 2 with the reason on stderr blocks the call (Claude Code shows it to the agent);
exit 0 with nothing on stdout lets it go on to the user's permission rules. Blocked:

1. for everyone, ``Write``/``Edit``/``MultiEdit``/``NotebookEdit`` of anything under a
   ``.ecw/`` folder (wtd owns it), symlinks resolved, and ``Write`` creating a new
   ``docs/plans/*.md`` (editing an existing view is fine: edits sync back); for a
   subagent, any of these tools on a file under ``docs/plans/`` (an edit of the view
   could change many tasks at once: a subagent changes the tracker through wtctl);
2. for everyone, a ``Bash`` command that writes those paths: redirections, ``tee``,
   ``cp``/``mv``/``install``/``ln``/``rsync``, ``rm``…, ``touch``/``mkdir``/``truncate``,
   ``sed -i``/``perl -i``, ``dd of=``, ``find … -delete``, ``git rm/mv/checkout/restore/
   clean``, interpreter one-liners that mention ``.ecw`` and write; ``bash -c``/``eval``/
   ``$(…)`` are looked into and ``cd`` is followed;
3. for a subagent, a ``Bash`` command that mentions ``wtctl``, ``wtd``, ``.ecw`` or
   ``docs/plans`` (in any case, through quotes and backslashes: ``mentioned``) and is
   not one plain wtctl call (``plain_words``: literal words, the program ``wtctl`` or a
   path ending in ``/wtctl``, no pipe, redirection, here-document, ``$``, substitution,
   glob, brace, comment, ``;``/``&``/new line, subshell, leading ``VAR=`` or wrapper),
   or one whose checked arguments (``check_wtctl``) use ``--skip-consent``, an unknown
   option, ``--agent`` with another name than the subagent's, no phrase (the REPL or
   stdin batch mode), a guarded phrase, a consent answer or change, or ``undo``.

A subagent's plain wtctl call that passes is allowed (exit 0) with
``hookSpecificOutput.permissionDecision: "allow"`` and ``updatedInput``: the whole
``tool_input`` with the command prefixed by ``WT_SUBAGENT=1 WT_AGENT=<agent_type or
agent_id>``, so wtd enforces the subagent rules (and the named agent's config) on what a
static check cannot know. Some Claude Code versions drop ``updatedInput`` silently
(anthropics/claude-code#81340) and evaluate permission rules on the rewritten command
(#65393), so the static check stands on its own. Every other call gets no output, so the
user's permission rules keep matching it.

Threat model: this stops an over-eager agent, one that reaches for a shortcut in plain
sight (a pipe of ``yes``, a ``bash -c``, ``--skip-consent``, an edit of the view); it
does not sandbox code that deliberately hides what it runs (a script written first and
run later, base64, a name built at run time), which runs as the user anyway.

Bad or empty input, or an unexpected failure here, never wedges the agent: exit 0 with a
warning on stderr. Stdlib only (json, os, re, sys, and ``wtd.vocabulary``, which is
stdlib-only): this runs on every tool call, so it must start fast.
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
    """Walks a Bash command (recursively into sh -c / eval / $(...)), keeping the
    first reason to block a write to a protected path."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self.reason: str | None = None

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
        words, _ = _command_words(simple)
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


# ------------------------------------------------------------------ subagents: what they mention

_MENTIONS = ("wtctl", "wtd", ".ecw", "docs/plans")
_PROGRAMS = ("wtctl", "wtd")
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
    """
    text = re.sub(_ANSI_C, _ansi_c, command, flags=re.DOTALL) if "$'" in command else command
    text = text.replace("\\\n", "").translate(_DROP_QUOTING).lower()  # wt\<newline>ctl
    while "//" in text or "/./" in text:
        text = text.replace("//", "/").replace("/./", "/")
    for word in _MENTIONS:
        if word in text:
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
SUBCOMMANDS = frozenset({"hook", "events", "daemon", "-h", "--help", "--version"})
_KIND_WHAT = {
    "create_initiative": "create initiatives",
    "delete_tracker": "delete trackers",
    "bulk_change": "change many tasks at once",
}


def check_wtctl(args: list[str], agent: str) -> None:
    """Raise ``_Refused`` unless wtctl ``args`` are fine for subagent ``agent``.

    Parsed as ``wtctl.cli.parse_args`` parses them: options anywhere, ``--`` ends
    them, an unknown option before the phrase is refused (a future option the hook
    does not know could change what the call does).
    """
    if args[:1] and args[0] in SUBCOMMANDS:
        return
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


CONSENT_WHAT = f"answer or change consent: {CONSENT_WHY}"
UNDO_WHAT = "undo: an undo can reverse a guarded change (set a task's status again instead)"
_compiled: list[tuple[re.Pattern[str], str]] = []


def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """The phrases a subagent may not send, compiled once (only subagents need them)."""
    if not _compiled:
        from wtd import vocabulary as v

        _compiled.extend((v.compile_phrase(p), _KIND_WHAT[k]) for p, k in v.GUARDED_PHRASES)
        _compiled.extend((v.compile_phrase(p), CONSENT_WHAT) for p in v.CONSENT_PHRASES)
        _compiled.append((v.compile_phrase(v.UNDO), UNDO_WHAT))
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


def subagent_bash(
    tool_input: dict[str, Any], command: str, agent: str
) -> str | dict[str, Any] | None:
    """A subagent's Bash call: None when it mentions none of the guarded words, else
    the reason to block it, or the hook output that allows it marked as the subagent's."""
    word = mentioned(command)
    if word is None:
        return None
    try:
        words = plain_words(command, word)
        check_wtctl(words[1:], agent)
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


# ------------------------------------------------------------------ decision


class BadInput(Exception):
    """The hook input cannot be understood; the call is allowed with a warning."""


def subagent_of(payload: dict[str, Any]) -> str | None:
    """The name a subagent goes by (``agent_type``, else ``agent_id``), or None for the
    main agent (no ``agent_id``, or an empty one)."""
    agent_id = payload.get("agent_id")
    if not agent_id:
        return None
    agent_type = payload.get("agent_type")
    if isinstance(agent_type, str) and agent_type.strip():
        return agent_type.strip()
    return str(agent_id)


def evaluate(payload: Any) -> str | dict[str, Any] | None:
    """The decision on this PreToolUse call: a reason to block it (``str``), the hook
    output that allows it (``dict``), or None to allow it silently.

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
    agent = subagent_of(payload)
    if tool in FILE_TOOLS:
        path = tool_input.get(FILE_TOOLS[tool])
        if not isinstance(path, str):
            raise BadInput(f"{tool} without a {FILE_TOOLS[tool]}")
        reason = path_reason(path, cwd, creating=tool == "Write", subject=f"{tool} of")
        if reason is None and agent is not None and path and _under_plans(_norm(path, cwd)):
            reason = (
                f"Blocked: {tool} of {path}, a tracker view under docs/plans/, by a subagent. "
                "A subagent changes the tracker through wtctl, where wtd enforces its rules "
                "(an edit of the view could change many tasks at once); to read it, use the "
                "Read tool. " + ASK_INSTEAD
            )
        return reason
    command = tool_input.get("command")
    if not isinstance(command, str):
        raise BadInput("Bash without a command")
    walk = _Walk(cwd)
    walk.command(command)
    if walk.reason is not None:
        return walk.reason
    if agent is None:
        return None
    return subagent_bash(tool_input, command, agent)


def decide(raw: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr text for the hook input ``raw``."""
    if not raw.strip():
        return ALLOW, "", "wtctl hook: warning: empty input; allowing the tool call"
    try:
        payload = json.loads(raw)
        verdict = evaluate(payload)
    except (ValueError, BadInput) as exc:  # json.JSONDecodeError is a ValueError
        return ALLOW, "", f"wtctl hook: warning: unusable input ({exc}); allowing the tool call"
    except Exception as exc:  # the boundary: a bug here must never wedge the agent
        return ALLOW, "", f"wtctl hook: warning: internal error ({exc!r}); allowing the tool call"
    if verdict is None:
        return ALLOW, "", ""
    if isinstance(verdict, str):
        return BLOCK, "", verdict
    return ALLOW, json.dumps(verdict, ensure_ascii=False), ""


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
    """``wtctl hook pre-tool-use``: read stdin; write the hook output (if any) to stdout
    and the reason or warning to stderr; return 0 (allow) or 2 (block). A wrong
    subcommand returns 1 (a non-blocking error for Claude Code)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["pre-tool-use"]:
        sys.stderr.write(USAGE)
        return 1
    try:
        raw = _read_stdin()
    except OSError as exc:
        sys.stderr.write(f"wtctl hook: warning: cannot read stdin ({exc}); allowing\n")
        return ALLOW
    code, output, message = decide(raw)
    if output:
        sys.stdout.write(output + "\n")
        sys.stdout.flush()
    if message:
        sys.stderr.write(message + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
