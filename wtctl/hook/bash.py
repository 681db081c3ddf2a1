"""Bash commands: lexing (words, operators, here-documents) and what a command writes.

``Walk`` goes through a command as bash would run it (following ``cd``, into
``bash -c``/``eval``/``$(…)`` and into programs fed to an interpreter on stdin) and keeps
the first reason to block a write to a protected path (everyone), and, when asked
(``reach``: a subagent's command that names none of the guarded words), the first word
that leads into ``.ecw/`` or ``docs/plans/`` once resolved on the file system.
"""

from __future__ import annotations

import os
import re

from wtctl.hook.paths import (
    ECW_WHY,
    MAX_WORD,
    Resolver,
    full_path,
    path_reason,
    protected_part,
)

# ------------------------------------------------------------------ lexing

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


# ------------------------------------------------------------------ what a program writes

_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "command", "builtin", "exec", "nohup", "time", "nice", "ionice"}
    | {"timeout", "stdbuf", "xargs", "then", "do", "else", "if", "while", "until", "!", "{"}
)
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_INTERPRETERS = re.compile(r"(python[0-9.]*|pypy[0-9.]*|node|ruby|perl|php|deno|bun)")
_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})
_EDITORS = frozenset({"ex", "vi", "vim", "nvim", "view", "vimdiff", "ed", "red"})
_IN_PLACE = frozenset({"sed", "gsed", "perl", "ruby"})
_AWKS = frozenset({"awk", "gawk"})
# Regular expressions that not every tool call needs are compiled where they are used (re
# caches them): compiling them all here would cost every tool call about a millisecond.
_SCRIPT_WRITES = (
    r"(?i)write|unlink|remove|rmtree|rename|replace|truncate"
    r"|\bopen\s+(?:my\s+)?[$\w]+\s*,\s*['\"][>+]"  # Perl: open my $f, '>', …
)
# "open(" then a quoted mode w/a/x (or Perl's >, +<) before the next ")": scanned token by
# token. The regex r"open\([^)]*['\"][wax]" took quadratic time on a script of many
# "open(" (13 s at 100 kB).
_OPEN_TOKENS = r"(?i)open\(|\)|['\"][wax>+]"
_LITERALS = r"'([^'\n]*)'|\"([^\"\n]*)\""
# programs a `find -exec` may run without writing what it finds
_READERS = frozenset(
    {"cat", "grep", "egrep", "fgrep", "rg", "head", "tail", "wc", "ls", "stat", "file"}
    | {"echo", "printf", "md5sum", "sha1sum", "sha256sum", "sha512sum", "cksum", "du"}
    | {"diff", "cmp", "basename", "dirname", "realpath", "readlink", "test", "[", "jq"}
    | {"od", "xxd", "hexdump", "strings", "sort", "uniq", "true", "false"}
    | {"wtctl"}  # its operands are phrases for wtd, which enforces its own rules
)
_COPIERS = frozenset({"cp", "install", "ln", "rsync"})
_FIND_NAME = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename"})
_FIND_COMPLEX = frozenset({"!", "-not", "-o", "-or", ",", "-regex", "-iregex", "(", ")"})
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_OUTPUT = frozenset({"-fprint", "-fprint0", "-fprintf", "-fls"})
_FIND_LISTED = 2_000  # entries of a protected folder a `find … -delete` is matched against
# the programs whose file operands `_writes` reads: their globs and braces are expanded
WRITERS = (
    frozenset({"tee", "sponge", "cp", "install", "ln", "rsync", "mv", "touch", "mkdir"})
    | frozenset({"truncate", "rm", "rmdir", "unlink", "shred", "chmod", "chown", "chgrp"})
    | frozenset({"dd", "git"})
    | _IN_PLACE
    | _AWKS
    | _EDITORS
)


def command_words(simple: Simple) -> tuple[list[str], dict[str, str]]:
    """Words without leading assignments and wrappers; the assignments seen."""
    words = simple.words
    assigned: dict[str, str] = {}
    k = 0
    while k < len(words):
        word = words[k]
        if ASSIGNMENT.match(word):
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
    folder = os.path.isdir(full_path(target_dir, cwd))
    if target_dir.endswith("/") or folder or len(paths) > 1:
        return [target_dir, *(os.path.join(target_dir, os.path.basename(p)) for p in paths)]
    return [target_dir]


def _awk_in_place(args: list[str]) -> list[str]:
    """The files ``gawk -i inplace`` rewrites (none without ``-i inplace``)."""
    in_place = program_given = False
    operands: list[str] = []
    k = 0
    while k < len(args):
        arg = args[k]
        k += 1
        if arg == "--":
            operands.extend(args[k:])
            break
        if arg in ("-i", "--include", "-l", "--load"):
            if k < len(args) and args[k] in ("inplace", "inplace.awk"):
                in_place = True
            k += 1
        elif arg.startswith(("--include=", "-i")):
            library = arg[len("--include=") :] if arg[1] == "-" else arg[2:].lstrip("=")
            in_place = in_place or library in ("inplace", "inplace.awk")
        elif arg in ("-f", "--file", "-e", "--source"):
            program_given = True
            k += 1
        elif arg in ("-v", "--assign", "-F", "--field-separator"):
            k += 1
        elif not arg.startswith("-") or arg == "-":
            operands.append(arg)
    if not in_place:
        return []
    files = operands if program_given else operands[1:]
    return [f for f in files if not ASSIGNMENT.match(f)]


_EDITOR_VALUES = frozenset({"-c", "--cmd", "-S", "-u", "-U", "-i", "-T", "-t", "-q", "-p"})


def _writes(words: list[str], cwd: str) -> tuple[list[str], list[str]]:
    """Files a command creates or overwrites, and files it changes or deletes."""
    name = os.path.basename(words[0])
    args = words[1:]
    if name in ("tee", "sponge"):
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
    if name in _IN_PLACE and any(
        re.match(r"-[A-Za-z]*i", a) or a.startswith("--in-place") for a in args
    ):
        with_script = any(a in ("-e", "-f", "-E", "--expression", "--file") for a in args)
        files = _positional(args, takes_value=frozenset({"-e", "-f", "-E", "--expression", "-l"}))
        if name not in ("perl", "ruby") and not with_script:
            files = files[1:]  # the first operand is the sed script
        return [], files
    if name in _AWKS:
        return [], _awk_in_place(args)
    if name in _EDITORS:
        outputs = [args[k + 1] for k, a in enumerate(args[:-1]) if a in ("-w", "-W")]
        files = _positional(args, takes_value=_EDITOR_VALUES | {"-w", "-W"})
        return outputs, [f for f in files if not f.startswith("+")]
    if name == "git" and args:
        sub = _positional(args, takes_value=frozenset({"-C", "-c"}))
        if sub and sub[0] in ("rm", "mv", "checkout", "restore", "clean"):
            return [], sub[1:]
    return [], []


def script_writes(script: str) -> bool:
    """Does an inline program look like it writes (a write call, or ``open(…, "w")``)?"""
    if re.search(_SCRIPT_WRITES, script):
        return True
    in_open = False
    for token in re.finditer(_OPEN_TOKENS, script):
        text = token.group()
        if text == ")":
            in_open = False
        elif text[0] in "'\"":
            if in_open:
                return True
        else:
            in_open = True
    return False


def _script_of(words: list[str]) -> str | None:
    """The inline program of ``python -c``/``node -e``/``bash -c``…, if any."""
    for k, arg in enumerate(words[1:], start=1):
        if arg in ("-c", "-e", "-E", "--eval", "-r") and k + 1 < len(words):
            return words[k + 1]
    return None


def _shell_script(words: list[str]) -> str | None:
    """The inline program of ``bash -c`` (also ``-lc``, ``-e -c``…), if any."""
    for k, arg in enumerate(words[1:-1], start=1):
        if arg == "--":
            return None
        if arg[:1] == "-" and arg[1:2] != "-" and "c" in arg[1:] and arg[1:].isalpha():
            return words[k + 1]
    return None


def _editor_commands(words: list[str]) -> list[str]:
    """The commands ``ex``/``vim`` get on their command line (``-c CMD``, ``+CMD``)."""
    found = [w[1:] for w in words[1:] if w.startswith("+")]
    found += [words[k + 1] for k, w in enumerate(words[:-1]) if w in ("-c", "--cmd")]
    return found


def _fed(simple: Simple) -> list[str]:
    """What ``simple`` writes into a pipe that the hook can read: here-documents,
    here-strings, ``echo``/``printf`` arguments."""
    texts = [text for text, _ in simple.stdin]
    words, _ = command_words(simple)
    if words and os.path.basename(words[0]) in ("echo", "printf"):
        texts.append(" ".join(words[1:]).replace("\\n", "\n").replace("\\t", "\t"))
    return texts


def _exec_writes(words: list[str]) -> bool:
    """Does ``find -exec WORDS`` change the files found (``{}``)? Unknown programs are
    taken to; readers do not; a copy only when ``{}`` is in its destination."""
    program = os.path.basename(words[0]) if words else ""
    if program in _READERS:
        return False
    if program in _COPIERS:
        operands = _positional(words[1:], takes_value=frozenset({"-t", "-S", "-m"}))
        return bool(operands) and "{}" in operands[-1]
    return True


class Find:
    """What a ``find`` command would change: its start points, whether it deletes or
    runs a writing program, the name tests that all must hold, and the files
    ``-fprint``… writes."""

    def __init__(self, args: list[str]) -> None:
        k = 0
        while k < len(args) and (args[k] in ("-H", "-L", "-P", "-D") or args[k][:2] == "-O"):
            k += 2 if args[k] == "-D" else 1
        self.starts: list[str] = []
        while k < len(args) and not args[k].startswith(("-", "(", "!")):
            self.starts.append(args[k])
            k += 1
        self.starts = self.starts or ["."]
        self.writes = False
        self.complex = False
        self.tests: list[tuple[str, str]] = []
        self.outputs: list[str] = []
        while k < len(args):
            arg = args[k]
            k += 1
            if arg in _FIND_EXEC:
                end = k
                while end < len(args) and args[end] not in (";", "+"):
                    end += 1
                self.writes = self.writes or _exec_writes(args[k:end])
                k = end + 1
            elif arg == "-delete":
                self.writes = True
            elif arg in _FIND_OUTPUT and k < len(args):
                self.outputs.append(args[k])
                k += 2 if arg == "-fprintf" else 1
            elif arg in _FIND_NAME and k < len(args):
                self.tests.append((arg, args[k]))
                k += 1
            elif arg in _FIND_COMPLEX:
                self.complex = True

    def matches(self, name: str, shown: str) -> bool:
        """Would the name tests hold for a file ``name`` that find shows as ``shown``?"""
        from fnmatch import fnmatchcase

        for test, pattern in self.tests:
            subject = name if test in ("-name", "-iname") else shown
            if test.startswith("-i"):
                subject, pattern = subject.lower(), pattern.lower()
            if not fnmatchcase(subject, pattern):
                return False
        return True


# ------------------------------------------------------------------ the walk


class Walk:
    """Walks a Bash command (recursively into sh -c / eval / $(…) / programs on stdin),
    keeping the first reason to block a write to a protected path (``reason``) and, with
    ``reach``, the first word that leads into ``.ecw/`` or ``docs/plans/`` (``reached``:
    (the word, the folder, the path it resolves to)). ``paths.over`` tells that the
    budget ran out before everything was resolved."""

    def __init__(self, cwd: str, *, reach: bool = False) -> None:
        self.cwd = cwd
        self.reach = reach
        self.reason: str | None = None
        self.reached: tuple[str, str, str] | None = None
        self.paths = Resolver()
        self._cwd_parts: dict[str, tuple[str | None, bool]] = {}

    # ---------------------------------------------------------------- commands

    def done(self) -> bool:
        """Decided: blocked for everyone, or (a subagent's) past the budget."""
        return self.reason is not None or (self.reach and self.paths.over)

    def command(self, text: str, depth: int = 0) -> None:
        if depth > 3 or self.done():
            return
        fed: list[str] = []
        for simple in simple_commands(text):
            self.simple(simple, depth, fed)
            if self.done():
                return
            fed = _fed(simple) if simple.pipes else []

    def simple(self, simple: Simple, depth: int, fed: list[str]) -> None:
        for word in (*simple.words, *simple.writes, *simple.reads):
            for inner in substitutions(word):
                self.command(inner, depth + 1)
        for text, expanded in simple.stdin:
            if expanded:
                for inner in substitutions(text):
                    self.command(inner, depth + 1)
        wrote = False
        for target in simple.writes:
            wrote = wrote or not target.startswith("/dev/")
            self.write(target, creating=True, subject="the command writes")
        if self.reason is not None:
            return
        words, _ = command_words(simple)
        if self.reach:
            for word in simple.words:
                self.touch(word)
                if "=" in word:
                    self.touch(word.partition("=")[2])
            for target in simple.reads:
                self.touch(target, target=True)
        if not words:
            self.cwd_writes(wrote)
            return
        name = os.path.basename(words[0])
        if name in ("cd", "pushd"):
            self.cd(words)
            return
        stdin = [text for text, _ in simple.stdin] + fed
        inline = _shell_script(words) if name in _SHELLS else _script_of(words)
        if name in _SHELLS or name == "eval":
            programs = [inline] if inline else stdin
            for program in [" ".join(words[1:])] if name == "eval" else programs:
                self.command(program, depth + 1)
            return
        if _INTERPRETERS.fullmatch(name):
            programs = [inline] if inline else [] if "-m" in words else stdin
            for program in programs:
                wrote = self.script(name, program) or wrote
        elif name in _EDITORS:
            for program in _editor_commands(words) + stdin:
                if ".ecw" in program:
                    self.reason = f"Blocked: this {name} command names .ecw/. {ECW_WHY}"
                    return
        if name == "find":
            wrote = self.find(Find(words[1:])) or wrote
        elif name in WRITERS:
            creates, changes = _writes(self.expanded(words), self.cwd)
            wrote = wrote or bool(creates or changes)
            for target in changes:
                self.write(target, creating=False, subject="the command changes")
            for target in creates:
                self.write(target, creating=True, subject="the command writes")
            if name == "rm" and any(re.match(r"-[A-Za-z]*[rR]|--recursive", a) for a in words):
                for target in changes:
                    self.holder(target)
        if self.reason is None:
            self.cwd_writes(wrote)

    def expanded(self, words: list[str]) -> list[str]:
        """``words`` with its file operands expanded as bash expands them (braces, ``~``,
        globs: absolute paths then), options left as they are."""
        out = words[:1]
        here = self.cwd.rstrip(os.sep) + os.sep
        for word in words[1:]:
            if word.startswith("-") or not any(c in word for c in "*?[{~"):
                out.append(word)
                continue
            relative = not word.startswith(("/", "~"))
            for full in self.paths.expand(word, self.cwd) or [word]:
                out.append(full[len(here) :] if relative and full.startswith(here) else full)
        return out

    def cd(self, words: list[str]) -> None:
        args = [w for w in words[1:] if not (w.startswith("-") and w != "-")]
        target = args[0] if args else "~"
        if target == "-" or "$" in target:
            return
        found = self.paths.expand(target, self.cwd)
        if len(found) == 1 and len(found[0]) <= MAX_WORD:  # bash cannot go further
            self.cwd = os.path.normpath(found[0])

    # ---------------------------------------------------------------- writes (everyone)

    def write(self, raw: str, *, creating: bool, subject: str) -> None:
        """Check that writing the word ``raw`` (each path it expands to) is allowed."""
        if self.reason is not None or not raw:
            return
        for full in self.paths.expand(raw, self.cwd) or [full_path(raw, self.cwd)]:
            self.reason = path_reason(
                raw, full, creating=creating, subject=subject, resolver=self.paths
            )
            if self.reason is not None:
                return
            if self.reach:
                self.reach_path(raw, full)

    def holder(self, raw: str) -> None:
        """A folder deleted with everything in it: blocked when it holds ``.ecw/``."""
        full = full_path(raw, self.cwd)
        real = self.paths.real(full)
        if self.reason is None and self.paths.is_dir(os.path.join(real, ".ecw")):
            self.reason = f"Blocked: the command deletes {raw}, which holds .ecw/. {ECW_WHY}"
        elif self.reach and self.reached is None:
            plans = self.plans_in(real)
            if plans is not None:
                self.reached = (raw, "docs/plans", plans)

    def plans_in(self, real: str, *, project: bool = True) -> str | None:
        """The ``docs/plans`` folder that the folder ``real`` (physical) holds as a
        ``docs`` folder (or, with ``project``, as a project), or None."""
        tails = (("docs", "plans"), ("plans",)) if project else (("plans",),)
        for tail in tails:
            plans = os.path.join(real, *tail)
            if plans.endswith(f"{os.sep}docs{os.sep}plans") and self.paths.is_dir(plans):
                return plans
        return None

    def script(self, name: str, script: str) -> bool:
        """Check an interpreter's program; does it look like it writes?"""
        writes = script_writes(script)
        literals = (
            [a or b for a, b in re.findall(_LITERALS, script)] if writes or self.reach else []
        )
        if writes:
            cwd_part = self.cwd_part()[0]
            if ".ecw" in script or cwd_part == ".ecw":
                self.reason = f"Blocked: this {name} program writes under .ecw/. {ECW_WHY}"
                return True
            subject = f"this {name} program writes"
            for literal in literals:
                if literal and len(literal) <= MAX_WORD and not literal.startswith("-"):
                    self.reason = path_reason(
                        literal,
                        full_path(literal, self.cwd),
                        creating=True,
                        subject=subject,
                        resolver=self.paths,
                    )
                    if self.reason is not None:
                        return True
        if self.reach:
            for literal in literals:
                self.touch(literal, expand=False)
        return writes

    def find(self, find: Find) -> bool:
        """Check ``find``; does it change files (``-delete``, ``-exec`` of a writer)?"""
        for target in find.outputs:
            self.write(target, creating=True, subject="the command writes")
        if not find.writes:
            return bool(find.outputs)
        for start in find.starts:
            for full in self.paths.expand(start, self.cwd):
                real = self.paths.real(full)
                logical = os.path.normpath(full)
                roots: list[tuple[str, str]] = []
                if ".ecw" in logical.split(os.sep) or ".ecw" in real.split(os.sep):
                    roots.append((real, ".ecw"))
                elif self.paths.is_dir(os.path.join(real, ".ecw")):
                    roots.append((os.path.join(real, ".ecw"), ".ecw"))
                if self.reach:
                    if "docs/plans" in (protected_part(logical), protected_part(real)):
                        roots.append((real, "docs/plans"))
                    elif (plans := self.plans_in(real)) is not None:
                        roots.append((plans, "docs/plans"))
                for root, part in roots:
                    if not self.find_hits(find, start, real, root):
                        continue
                    if part == ".ecw":
                        self.reason = (
                            f"Blocked: the command changes files under .ecw/ (find {start} "
                            f"… -delete or -exec). {ECW_WHY}"
                        )
                        return True
                    if self.reached is None:
                        self.reached = (start, part, root)
        return True

    def find_hits(self, find: Find, start: str, real: str, root: str) -> bool:
        """Would ``find`` (from ``start``, physically ``real``) reach a file under the
        protected folder ``root``? Its entries are listed breadth first, up to a bound:
        past it, the main agent's command is let through, a subagent's is not."""
        if find.complex or not find.tests:
            return True
        queue = [root]
        seen = 0
        for folder in queue:  # grows while it is read: breadth first
            shown = start.rstrip(os.sep) + folder[len(real) :] if folder.startswith(real) else ""
            if folder == root and find.matches(os.path.basename(root), shown):
                return True
            for entry in self.paths.entries(folder):
                seen += 1
                if seen > _FIND_LISTED:
                    self.paths.over = True
                    return False
                if find.matches(entry.name, f"{shown}{os.sep}{entry.name}"):
                    return True
                try:
                    if entry.is_dir(follow_symlinks=False):
                        queue.append(entry.path)
                except OSError:
                    continue
        return False

    # ---------------------------------------------------------------- reach (subagents)

    def cwd_part(self) -> tuple[str | None, bool]:
        """The guarded folder the working folder is in, and whether it is a ``docs``
        folder with ``plans/`` in it."""
        known = self._cwd_parts.get(self.cwd)
        if known is None:
            part = self.paths.part(self.cwd)
            real = self.paths.real(self.cwd)
            docs = part is None and self.plans_in(real, project=False) is not None
            known = self._cwd_parts[self.cwd] = (part, docs)
        return known

    def cwd_writes(self, wrote: bool) -> None:
        """A subagent's command that writes from inside a guarded folder (or from a
        ``docs`` folder holding ``plans/``) reaches it, whatever names it uses."""
        if not (self.reach and wrote and self.reached is None):
            return
        part, docs = self.cwd_part()
        if part is not None or docs:
            self.reached = ("", part or "docs", self.cwd)

    def touch(self, word: str, *, target: bool = False, expand: bool = True) -> None:
        """Note a word of a subagent's command that leads into a guarded folder."""
        word = word.replace("\0", "")
        if self.reached is not None or self.paths.over or not word or len(word) > MAX_WORD:
            return
        if word.startswith("-") and not target:
            return
        if not (target or "/" in word or word[0] in ".~" or any(c in word for c in "*?[{")):
            # a bare name: it leads somewhere guarded only from a guarded folder, as
            # "plans" from docs/, or as a symlink
            full = os.path.join(self.cwd, word)
            part = self.cwd_part()[0]
            if part is not None:
                if self.paths.exists(full):
                    self.reached = (word, part, full)
                return
            part = protected_part(os.path.normpath(full))
            if part is None and self.paths.is_link(full):
                part = protected_part(self.paths.real(full))
            if part is not None:
                self.reached = (word, part, full)
            return
        found = self.paths.expand(word, self.cwd) if expand else [full_path(word, self.cwd)]
        for full in found:
            self.reach_path(word, full)

    def reach_path(self, word: str, full: str) -> None:
        if self.reached is None:
            part = self.paths.part(full)
            if part is not None:
                self.reached = (word, part, os.path.normpath(full))
