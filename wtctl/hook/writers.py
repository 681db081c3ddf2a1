"""What a program writes: the file operands of the programs that write (``cp``,
``sed -i``, ``tee``, editors, ...), scripts that write files, interpreters and
shells fed a program, and ``find`` with a write action.
"""

from __future__ import annotations

import os
import re

from wtctl.hook.lexer import Simple
from wtctl.hook.paths import (
    full_path,
)

_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "command", "builtin", "exec", "nohup", "time", "nice", "ionice"}
    | {"timeout", "stdbuf", "xargs", "then", "do", "else", "if", "while", "until", "!", "{"}
    | {"busybox"}  # busybox cp …: the applet is the program
)
# a wrapper's options that take the next word as their value (sudo -u root cp …)
_WRAPPER_VALUES = {
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"}),
    "doas": frozenset({"-u", "-C"}),
    "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n", "-p", "-P", "-u"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "xargs": frozenset({"-I", "-n", "-P", "-d", "-a", "-E", "-L", "-s", "-i"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
INTERPRETERS = re.compile(r"(python[0-9.]*|pypy[0-9.]*|node|ruby|perl|php|deno|bun)")
SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})
EDITORS = frozenset({"ex", "vi", "vim", "nvim", "view", "vimdiff", "ed", "red"})
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
LITERALS = r"'([^'\n]*)'|\"([^\"\n]*)\""
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
FIND_LISTED = 2_000  # entries of a protected folder a `find … -delete` is matched against
# the programs whose file operands `program_writes` reads: their globs and braces are expanded
WRITERS = (
    frozenset({"tee", "sponge", "cp", "install", "ln", "rsync", "mv", "touch", "mkdir"})
    | frozenset({"truncate", "rm", "rmdir", "unlink", "shred", "chmod", "chown", "chgrp"})
    | frozenset({"dd", "git", "tar", "bsdtar", "gtar", "unzip", "wtctl", "curl", "wget"})
    | _IN_PLACE
    | _AWKS
    | EDITORS
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
                if words[k] in _WRAPPER_VALUES.get(wrapper, ()) and k + 1 < len(words):
                    k += 1  # its value
                elif wrapper == "env" and words[k] in ("-u", "--unset") and k + 1 < len(words):
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


def program_writes(words: list[str], cwd: str) -> tuple[list[str], list[str]]:
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
    if name in EDITORS:
        outputs = [args[k + 1] for k, a in enumerate(args[:-1]) if a in ("-w", "-W")]
        files = _positional(args, takes_value=_EDITOR_VALUES | {"-w", "-W"})
        return outputs, [f for f in files if not f.startswith("+")]
    if name in ("tar", "bsdtar", "gtar") and _extracts(args):
        # into the folder -C names (the archive's entries are not known here)
        return [], _tar_folders(args)
    if name == "unzip":
        return [], [args[k + 1] for k, a in enumerate(args[:-1]) if a == "-d"]
    if name == "wtctl":
        # a merge driver run by hand writes its %A operand (the tracker file) directly;
        # wtctl's phrases go to wtd, which enforces its own rules
        if args[:1] == ["git"] and args[1:2] in (["merge-json"], ["merge-view"]):
            return [], args[3:4]
        return [], []
    if name == "curl":
        return _downloads(args, ("-o", "--output"), ("--output-dir",)), []
    if name == "wget":
        return _downloads(args, ("-O", "--output-document"), ("-P", "--directory-prefix")), []
    if name == "git" and args:
        sub = _positional(args, takes_value=frozenset({"-C", "-c"}))
        there = [args[k + 1] for k, a in enumerate(args[:-1]) if a == "-C"]
        if there:  # its operands are relative to the folder -C names
            sub = sub[:1] + [os.path.join(*there, f) for f in sub[1:]]
        if sub and sub[0] == "mv" and len(sub) >= 3:
            return sub[-1:], sub[1:-1]  # the last operand is made
        if sub and sub[0] in ("rm", "mv", "checkout", "restore", "clean"):
            return [], sub[1:]
    return [], []


def _downloads(args: list[str], files: tuple[str, ...], folders: tuple[str, ...]) -> list[str]:
    """The files (and folders) a download writes: ``-o FILE``, ``--output=FILE``,
    ``-oFILE``; a folder option's value stands for whatever lands in it."""
    out: list[str] = []
    for k, a in enumerate(args):
        for option in (*files, *folders):
            if a == option and k + 1 < len(args):
                out.append(args[k + 1])
            elif option.startswith("--") and a.startswith(option + "="):
                out.append(a.partition("=")[2])
            elif not option.startswith("--") and a.startswith(option) and len(a) > len(option):
                out.append(a[len(option) :])
    return out


def _extracts(args: list[str]) -> bool:
    """Does a ``tar`` command line extract (``-x``, ``--extract``, ``xf`` bundled)?"""
    if args and not args[0].startswith("-") and "x" in args[0]:
        return True  # the old style: tar xf archive
    return any(
        a in ("--extract", "--get") or (a.startswith("-") and not a.startswith("--") and "x" in a)
        for a in args
    )


def _tar_folders(args: list[str]) -> list[str]:
    """The folders ``-C``/``--directory`` name (where a tar extracts)."""
    found: list[str] = []
    for k, a in enumerate(args):
        if a in ("-C", "--directory") and k + 1 < len(args):
            found.append(args[k + 1])
        elif a.startswith("--directory="):
            found.append(a.partition("=")[2])
    return found


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


def script_of(words: list[str]) -> str | None:
    """The inline program of ``python -c``/``node -e``/``bash -c``…, if any."""
    for k, arg in enumerate(words[1:], start=1):
        if arg in ("-c", "-e", "-E", "--eval", "-r") and k + 1 < len(words):
            return words[k + 1]
    return None


def shell_script(words: list[str]) -> str | None:
    """The inline program of ``bash -c`` (also ``-lc``, ``-e -c``…), if any."""
    for k, arg in enumerate(words[1:-1], start=1):
        if arg == "--":
            return None
        if arg[:1] == "-" and arg[1:2] != "-" and "c" in arg[1:] and arg[1:].isalpha():
            return words[k + 1]
    return None


def editor_commands(words: list[str]) -> list[str]:
    """The commands ``ex``/``vim`` get on their command line (``-c CMD``, ``+CMD``)."""
    found = [w[1:] for w in words[1:] if w.startswith("+")]
    found += [words[k + 1] for k, w in enumerate(words[:-1]) if w in ("-c", "--cmd")]
    return found


def piped_texts(simple: Simple) -> list[str]:
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
