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
   ``.ecw/`` folder (wtd owns it), and ``Write`` creating a new ``docs/plans/*.md``
   (editing an existing view is fine: edits sync back), symlinks resolved for both; for
   a subagent, any of these tools on a file under ``docs/plans/`` (an edit of the view
   could change many tasks at once: a subagent changes the tracker through wtctl);
2. for everyone, a ``Bash`` command that writes those paths (``bash.Walk``):
   redirections, ``tee``/``sponge``, ``cp``/``mv``/``install``/``ln``/``rsync``,
   ``rm``… (and ``rm -r`` of a folder holding ``.ecw/``), ``touch``/``mkdir``/
   ``truncate``, ``sed -i``/``perl -i``/``ruby -i``, ``awk -i inplace``, ``ex``/``vi``/
   ``vim``/``ed`` on a file (or with ``.ecw`` in their commands), ``dd of=``,
   ``find … -delete``/``-exec`` of a writing program when a file it would reach under
   ``.ecw/`` passes its ``-name``/``-path`` tests, ``git rm/mv/checkout/restore/clean``
   on paths, and interpreter programs (``python -c``, ``node -e``…, a here-document,
   here-string or ``echo``/``printf`` piped into an interpreter) that look like they
   write (``write``/``unlink``/…, ``open(…, "w")``) and mention ``.ecw``, run from
   inside it, or name in a string literal a path under ``.ecw/`` or a new view.
   Operands are expanded as bash does (braces, ``~``, globs against the file system:
   ``rm -rf .e*``), resolved from the effective working folder (``cd`` followed) and
   through symlinks (``d/plans/new.md`` with ``d`` → ``docs``); ``bash -c``/``eval``/
   ``$(…)``/shell programs on stdin (``bash <<EOF``) are looked into;
3. for a subagent, a ``Bash`` command that mentions ``wtctl``, ``wtd``, ``.ecw`` or
   ``docs/plans`` and is not one plain wtctl call (``plain_words``: literal words, the
   program ``wtctl`` or a path ending in ``/wtctl``, no pipe, redirection,
   here-document, ``$``, substitution, glob, brace, comment, ``;``/``&``/new line,
   subshell, leading ``VAR=`` or wrapper), or one whose checked arguments
   (``check_wtctl``) use ``--skip-consent``, ``--socket``, a ``--tracker`` path outside
   the workspace of the payload's ``cwd`` (its nearest ancestor holding ``.ecw/`` or
   ``.git``), an unknown option, ``--agent`` with another name than the subagent's, no
   phrase (the REPL or stdin batch mode), a guarded phrase, a consent answer or change,
   or a phrase of ``wtd.vocabulary.SUBAGENT_BARRED`` (``undo``, ``restore tracker``).
   "Mentions" is decided on the text (``mentioned``: any case, through quotes and
   backslashes; ``wtctl``/``wtd`` as whole words, ``_`` and ``-`` separating words) and
   on paths (``bash.Walk`` with ``reach``): a word that, resolved as in 2., lands in a
   ``.ecw`` or ``docs/plans`` folder (``sed -i … plans/x.md`` run from ``docs/``,
   ``docs/*/x.md``, ``{docs,x}/plans``, a symlink to ``docs``, a string literal of an
   interpreter program), ``rm -r``/``find -delete`` of a folder holding
   ``docs/plans/``, or a command that writes anything while the effective working
   folder is inside ``.ecw/`` or ``docs/plans/``, or is a ``docs/`` folder with a
   ``plans/`` folder in it. The resolution is bounded (``paths.MAX_WORK`` system
   calls and entries, ``paths.MAX_NAMES`` expansions per command): a subagent's command
   that needs more is blocked, saying so; the main agent's is judged on what was
   resolved and on its words as written.

A subagent's plain wtctl call that passes is allowed (exit 0) with
``hookSpecificOutput.permissionDecision: "allow"`` and ``updatedInput``: the whole
``tool_input`` with the command prefixed by ``WT_SUBAGENT=1 WT_AGENT=<agent_type or
agent_id>``, so wtd enforces the subagent rules (and the named agent's config) on what a
static check cannot know. Some Claude Code versions drop ``updatedInput`` silently
(anthropics/claude-code#81340) and evaluate permission rules on the rewritten command
(#65393), so the static check stands on its own. Every other call gets no output, so the
user's permission rules keep matching it.

Threat model: this stops an over-eager agent, one that reaches for a shortcut in plain
sight (a pipe of ``yes``, a ``bash -c``, ``--skip-consent``, an edit of the view, a
``sed`` from the folder next to it); it does not sandbox code that deliberately hides
what it runs (a script written first and run later, base64, a name or path built at run
time), which runs as the user anyway. Not caught, knowingly: ``git reset --hard``,
``git stash``, ``git checkout .``, ``git clean`` without paths, ``rsync --delete``,
``tar -x``/``unzip`` into the project (into ``.ecw`` itself, ``-C``/``-d``, is caught)
and other writes through a folder above the
protected ones (only ``rm -r`` of such a folder and ``find`` from it are looked into);
``find`` from further up than the project (``find ~ -name '*.json' -delete``); a
``find`` whose tests the hook does not evaluate (``-regex``, ``!``, ``-o``: taken as
matching everything); programs that ``xargs`` runs; ``cd -``/``popd``/``CDPATH``;
brace sequences (``{a..z}``); bash options that change globbing (``dotglob``,
``nullglob``, ``globstar``). Quotes are not remembered after lexing, so a quoted glob
is expanded as if it were not quoted: that only ever finds more paths.

Bad or empty input, or an unexpected failure here, never wedges the agent: exit 0 with a
warning on stderr. Stdlib only (json, os, re, sys, fnmatch when a command has a glob, and
``wtd.vocabulary``, which is stdlib-only): this runs on every tool call, so it must start
fast. The package: ``paths`` (protected paths, the bounded resolver), ``bash`` (lexing,
what a command writes, the walk), ``subagent`` (what a subagent's call mentions, the
plain wtctl call and its arguments); this module decides.
"""

from __future__ import annotations

import json
import os
import sys

from wtctl.hook.bash import Walk, lex, simple_commands, substitutions
from wtctl.hook.bash import script_writes as _script_writes
from wtctl.hook.paths import ASK_INSTEAD, ECW_WHY, PLAN_WHY, Resolver, full_path, path_reason
from wtctl.hook.subagent import (
    BOOL_FLAGS,
    SUBCOMMANDS,
    VALUE_FLAGS,
    _patterns,
    _under_plans,
    check_wtctl,
    mentioned,
    phrase_reason,
    plain_words,
    shell_quote,
    subagent_bash,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every tool call
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ALLOW",
    "ASK_INSTEAD",
    "BLOCK",
    "BOOL_FLAGS",
    "ECW_WHY",
    "FILE_TOOLS",
    "PLAN_WHY",
    "SUBCOMMANDS",
    "VALUE_FLAGS",
    "BadInput",
    "_patterns",
    "_script_writes",
    "check_wtctl",
    "decide",
    "evaluate",
    "lex",
    "main",
    "mentioned",
    "phrase_reason",
    "plain_words",
    "shell_quote",
    "simple_commands",
    "subagent_of",
    "substitutions",
]

ALLOW = 0
BLOCK = 2
USAGE = "usage: wtctl hook pre-tool-use   (reads Claude Code's PreToolUse JSON on stdin)\n"

FILE_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}


class BadInput(Exception):
    """The hook input cannot be understood; the call is allowed with a warning."""


def _text(value: str) -> str:
    """``value`` as the tool receives it: JSON may carry lone surrogates (``"\\ud800"``),
    which no file name or argument can hold; they become U+FFFD instead of failing a
    system call later."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def subagent_of(payload: dict[str, Any]) -> str | None:
    """The name a subagent goes by (``agent_type``, else ``agent_id``), or None for the
    main agent (no ``agent_id``, or an empty one)."""
    agent_id = payload.get("agent_id")
    if not agent_id:
        return None
    agent_type = payload.get("agent_type")
    if isinstance(agent_type, str) and agent_type.strip():
        return _agent_name(agent_type.strip())
    return _agent_name(str(agent_id))


# wtd's rules for agent names (``wtd.enforcement.agents``, whose import would cost each
# subagent call ~0.1 s: msgspec): a test keeps these equal to its own.
AGENT_NAME_MAX = 64
RESERVED_AGENT_NAMES = frozenset({"user", "subagent", "wtd", "git", "hand-edit"})
_UNNAMEABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _agent_name(name: str) -> str:
    """``name`` as wtd takes an agent name (``WT_AGENT``): kept when wtd would, else
    with control and invisible characters made ``-``, cut to the length limit, and a
    name wtd gives others (``user``, ``wtd``…) prefixed. The command the hook lets
    through would otherwise fail on every call (exit 2: an invalid WT_AGENT)."""
    import unicodedata

    cleaned = "".join("-" if unicodedata.category(c) in _UNNAMEABLE else c for c in name)
    cleaned = cleaned[:AGENT_NAME_MAX].strip()
    if cleaned.casefold() in RESERVED_AGENT_NAMES:
        cleaned = f"subagent-{cleaned}"
    return cleaned or "subagent-unnamed"


def _file_tool(tool: str, path: str, cwd: str, agent: str | None) -> str | None:
    if not path:
        return None
    full = full_path(path, cwd)
    reason = path_reason(
        path, full, creating=tool == "Write", subject=f"{tool} of", resolver=Resolver()
    )
    if reason is None and agent is not None and _under_plans(os.path.normpath(full)):
        reason = (
            f"Blocked: {tool} of {path}, a tracker view under docs/plans/, by a subagent. "
            "A subagent changes the tracker through wtctl, where wtd enforces its rules "
            "(an edit of the view could change many tasks at once); to read it, use the "
            "Read tool. " + ASK_INSTEAD
        )
    return reason


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
    cwd = _text(cwd).replace("\0", "")
    agent = subagent_of(payload)
    if tool in FILE_TOOLS:
        path = tool_input.get(FILE_TOOLS[tool])
        if not isinstance(path, str):
            raise BadInput(f"{tool} without a {FILE_TOOLS[tool]}")
        return _file_tool(tool, _text(path), cwd, agent)
    command = tool_input.get("command")
    if not isinstance(command, str):
        raise BadInput("Bash without a command")
    command = _text(command)
    word = mentioned(command) if agent is not None else None
    walk = Walk(cwd, reach=agent is not None and word is None)
    walk.command(command)
    if walk.reason is not None:
        return walk.reason
    if agent is None:
        return None
    return subagent_bash(tool_input, command, agent, cwd, word, walk)


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
