"""Lexing a Bash command as bash would: words and operators, here-documents, simple
commands with their redirections and stdin, and command substitutions.

Stdlib only, like all of ``wtctl.hook``: it runs on every tool call.
"""

from __future__ import annotations

import re

_OPERATORS = (
    "&>>", "<<-", "<<<", ";;", "&&", "||", "|&", ">>", ">|", "&>", "<<", "<>", ">&", "<&",
    ";", "&", "|", "(", ")", "<", ">", "\n",
)  # fmt: skip
_OPERATOR_STARTS = frozenset(op[0] for op in _OPERATORS)
_SEPARATORS = frozenset({";", ";;", "&&", "||", "&", "|", "|&", "(", ")", "\n"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
_READ_REDIRECTS = frozenset({"<", "<<", "<<-", "<<<", "<&"})


class Lexed:
    """Tokens ``(text, is_operator)`` and the here-document bodies: the index of each
    ``<<``/``<<-`` token → (body, delimiter quoted)."""

    def __init__(self) -> None:
        self.tokens: list[tuple[str, bool]] = []
        self.bodies: dict[int, tuple[str, bool]] = {}


def lex(command: str) -> Lexed:
    """Split a shell command into ``(text, is_operator)`` tokens, bash-like.

    Quotes and backslashes are removed from words; ``#`` comments are skipped;
    here-document bodies are kept apart (``Lexed.bodies``); an unclosed quote runs to
    the end (never raises).
    """
    lexed = Lexed()
    tokens = lexed.tokens
    word: list[str] = []
    in_word = False
    quoted = False
    pending: list[tuple[str, bool, bool, int]] = []  # delimiter, strip tabs, quoted, op index
    want: tuple[bool, int] | None = None  # a << waiting for its delimiter
    i, n = 0, len(command)

    def flush() -> None:
        nonlocal in_word, quoted, want
        if in_word:
            text = "".join(word)
            tokens.append((text, False))
            if want is not None:
                pending.append((text, want[0], quoted, want[1]))
                want = None
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
        op = None
        if ch in _OPERATOR_STARTS:
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
            want = (op == "<<-", len(tokens) - 1)
        elif op == "\n" and pending:
            i = _read_heredocs(command, i, pending, lexed.bodies)
            pending.clear()
    flush()
    return lexed


def _read_heredocs(
    command: str,
    i: int,
    pending: list[tuple[str, bool, bool, int]],
    bodies: dict[int, tuple[str, bool]],
) -> int:
    """Read the bodies of the here-documents ``pending`` from ``i`` (the start of the
    line after their command); the index after the last delimiter line."""
    n = len(command)
    for delimiter, strip_tabs, quoted, index in pending:
        start = i
        body_end = n
        while i < n:
            end = command.find("\n", i)
            end = n if end < 0 else end
            line = command[i:end]
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                body_end = i
                i = end + 1
                break
            i = end + 1
        bodies[index] = (command[start : min(body_end, n)], quoted)
    return min(i, n)


class Simple:
    """One simple command: its words, the files its redirections write and read, what
    it gets on stdin from here-documents and here-strings (``(text, expanded)``: the
    shell expands ``$(…)`` in it), and whether it pipes into the next command."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.writes: list[str] = []
        self.reads: list[str] = []
        self.stdin: list[tuple[str, bool]] = []
        self.pipes = False


def simple_commands(command: str) -> list[Simple]:
    lexed = lex(command)
    tokens = lexed.tokens
    result: list[Simple] = []
    current = Simple()
    k = 0
    while k < len(tokens):
        at = k
        text, is_op = tokens[k]
        k += 1
        if not is_op:
            current.words.append(text)
            continue
        if text in _SEPARATORS:
            if current.words or current.writes or current.reads or current.stdin:
                current.pipes = text in ("|", "|&")
                result.append(current)
            current = Simple()
            continue
        target = tokens[k][0] if k < len(tokens) and not tokens[k][1] else None
        if target is None:
            continue
        k += 1
        fd = text in (">&", "<&") and (target.isdigit() or target == "-")
        if text in ("<<", "<<-"):
            body = lexed.bodies.get(at)
            if body is not None:
                current.stdin.append((body[0], not body[1]))
        elif text == "<<<":
            current.stdin.append((target, True))
        elif text in _WRITE_REDIRECTS:
            if not fd:
                current.writes.append(target)
        elif not fd:
            current.reads.append(target)
    if current.words or current.writes or current.reads or current.stdin:
        result.append(current)
    return result


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
