"""wtctl hook pre-tool-use: real-shaped Claude Code PreToolUse payloads → exit, stdout, stderr."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from wtctl import cli, hook
from wtd import vocabulary
from wtd.tracker import commands
from wtd.tracker.phrases import parse


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / ".ecw" / "plans").mkdir(parents=True)
    (tmp_path / ".ecw" / "plans" / "my-project.json").write_text("{}")
    (tmp_path / "docs" / "plans").mkdir(parents=True)
    (tmp_path / "docs" / "plans" / "my-project.md").write_text("# Work Tracker: x\n")
    (tmp_path / "src").mkdir()
    return tmp_path


SUBAGENT = "agent-7f3a"


def payload(
    ws: Path,
    tool: str,
    tool_input: Any,
    agent: str | None = None,
    agent_type: str | None = None,
    cwd: Path | None = None,
) -> str:
    """A PreToolUse input as Claude Code sends it; ``agent`` makes it a subagent's;
    ``cwd`` is the session's working folder (the workspace ``ws`` by default)."""
    doc: dict[str, Any] = {
        "session_id": "abc123",
        "transcript_path": str(ws / "transcript.jsonl"),
        "cwd": str(cwd or ws),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_use_id": "toolu_01ABC123",
    }
    if agent is not None:
        doc["agent_id"] = agent
    if agent_type is not None:
        doc["agent_type"] = agent_type
    return json.dumps(doc)


def bash(
    ws: Path,
    command: str,
    agent: str | None = None,
    agent_type: str | None = None,
    cwd: Path | None = None,
) -> str:
    return payload(ws, "Bash", {"command": command, "description": "run"}, agent, agent_type, cwd)


class Outcome(NamedTuple):
    code: int
    out: str
    err: str


Run = Callable[[str], Outcome]  # raw stdin → what the hook did


@pytest.fixture
def hook_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    def call(raw: str) -> Outcome:
        monkeypatch.setattr(sys, "stdin", io.StringIO(raw))
        code = hook.main(["pre-tool-use"])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return call


SILENT = Outcome(0, "", "")


def allowed_input(outcome: Outcome) -> dict[str, Any]:
    """The ``updatedInput`` of an allow answer (and check the answer's shape)."""
    assert outcome.code == 0 and outcome.err == "", outcome
    answer = json.loads(outcome.out)
    assert set(answer) == {"hookSpecificOutput"}
    specific = answer["hookSpecificOutput"]
    assert specific["hookEventName"] == "PreToolUse"
    assert specific["permissionDecision"] == "allow"
    assert specific["permissionDecisionReason"]
    updated: dict[str, Any] = specific["updatedInput"]
    return updated


# ------------------------------------------------------------ file tools


@pytest.mark.parametrize("tool", ["Write", "Edit", "MultiEdit"])
@pytest.mark.parametrize("path", [".ecw/plans/my-project.json", "{ws}/.ecw/consent-state.json"])
def test_file_tools_may_not_touch_ecw(ws: Path, hook_run: Run, tool: str, path: str) -> None:
    tool_input: dict[str, Any] = {"file_path": path.format(ws=ws), "content": "{}"}
    if tool == "Edit":
        tool_input = {"file_path": path.format(ws=ws), "old_string": "a", "new_string": "b"}
    if tool == "MultiEdit":
        tool_input = {
            "file_path": path.format(ws=ws),
            "edits": [{"old_string": "a", "new_string": "b"}],
        }
    code, out, err = hook_run(payload(ws, tool, tool_input))
    assert (code, out) == (2, "")
    assert "under .ecw/" in err and 'wtctl "mark task 2.2 complete"' in err


def test_notebook_edit_under_ecw_is_blocked(ws: Path, hook_run: Run) -> None:
    outcome = hook_run(
        payload(ws, "NotebookEdit", {"notebook_path": ".ecw/x.ipynb", "new_source": ""})
    )
    assert outcome.code == 2


def test_write_through_a_symlink_into_ecw_is_blocked(ws: Path, hook_run: Run) -> None:
    (ws / "state").symlink_to(ws / ".ecw")
    outcome = hook_run(payload(ws, "Write", {"file_path": "state/plans/x.json", "content": ""}))
    assert outcome.code == 2


def test_write_creating_a_new_plan_is_blocked(ws: Path, hook_run: Run) -> None:
    code, _, err = hook_run(
        payload(ws, "Write", {"file_path": "docs/plans/new.md", "content": "# x"})
    )
    assert code == 2
    assert "new docs/plans/*.md" in err and "create initiative" in err


def test_write_to_an_existing_plan_is_allowed(ws: Path, hook_run: Run) -> None:
    path = str(ws / "docs" / "plans" / "my-project.md")
    assert hook_run(payload(ws, "Write", {"file_path": path, "content": "# x"})) == SILENT


@pytest.mark.parametrize(
    "path", ["src/app.py", "docs/notes.md", "docs/plans/sub/new.md", "docs/plans/new.txt", "ecw/x"]
)
def test_ordinary_writes_are_allowed(ws: Path, hook_run: Run, path: str) -> None:
    assert hook_run(payload(ws, "Write", {"file_path": path, "content": ""})) == SILENT


def test_edit_of_an_existing_plan_is_allowed(ws: Path, hook_run: Run) -> None:
    edit = {"file_path": "docs/plans/my-project.md", "old_string": "x", "new_string": "y"}
    assert hook_run(payload(ws, "Edit", edit)) == SILENT


@pytest.mark.parametrize("tool", ["Write", "Edit", "MultiEdit"])
def test_a_subagent_may_not_edit_a_tracker_view(ws: Path, hook_run: Run, tool: str) -> None:
    edit = {"file_path": str(ws / "docs/plans/my-project.md"), "old_string": "x", "new_string": "y"}
    code, out, err = hook_run(payload(ws, tool, edit, agent=SUBAGENT, agent_type="Explore"))
    assert (code, out) == (2, "")
    assert "docs/plans/" in err and "through wtctl" in err and "Read tool" in err


def test_a_subagent_may_not_edit_a_view_through_a_symlink(ws: Path, hook_run: Run) -> None:
    (ws / "views").symlink_to(ws / "docs" / "plans")
    edit = {"file_path": "views/my-project.md", "old_string": "x", "new_string": "y"}
    assert hook_run(payload(ws, "Edit", edit, agent=SUBAGENT)).code == 2


def test_a_subagent_may_write_elsewhere(ws: Path, hook_run: Run) -> None:
    write = {"file_path": "src/app.py", "content": "print('docs/plans')"}
    assert hook_run(payload(ws, "Write", write, agent=SUBAGENT)) == SILENT


def test_relative_paths_resolve_against_the_payload_cwd(ws: Path, hook_run: Run) -> None:
    raw = json.loads(payload(ws, "Write", {"file_path": "../.ecw/plans/a.json", "content": ""}))
    raw["cwd"] = str(ws / "src")
    assert hook_run(json.dumps(raw)).code == 2
    raw = json.loads(
        payload(ws, "Write", {"file_path": "../docs/plans/my-project.md", "content": ""})
    )
    raw["cwd"] = str(ws / "src")
    assert hook_run(json.dumps(raw)).code == 0


# ------------------------------------------------------------ Bash writes (everyone)


@pytest.mark.parametrize("agent", [None, SUBAGENT])
@pytest.mark.parametrize(
    "command",
    [
        "echo '{}' > .ecw/plans/my-project.json",
        "jq . x.json >> .ecw/plans/my-project.json",
        'cat <<\'EOF\' > .ecw/plans/x.json\n{"a": "it\'s"}\nEOF',
        "echo x | tee .ecw/audit.log",
        "cp /tmp/x.json .ecw/plans/",
        "mv .ecw/plans/my-project.json /tmp/",
        "rm -rf .ecw",
        "sed -i 's/pending/complete/' .ecw/plans/my-project.json",
        "truncate -s 0 .ecw/plans/my-project.json",
        "dd if=/dev/null of=.ecw/plans/my-project.json",
        "cd .ecw && echo x > plans/my-project.json",
        "bash -c 'rm .ecw/plans/my-project.json'",
        "find .ecw -name '*.json' -delete",
        "git checkout -- .ecw/plans/my-project.json",
        "python3 -c \"open('.ecw/plans/x.json', 'w').write('{}')\"",
        "ls && echo $(rm .ecw/consent-state.json)",
        "echo x > docs/plans/new.md",
        "touch docs/plans/new.md",
        "cp template.md docs/plans/new.md",
        "cd docs && cat > plans/new.md <<EOF\n# Work Tracker\nEOF",
        "tar -xf /tmp/a.tar -C .ecw",
        "tar xzf /tmp/a.tgz --directory=.ecw/plans",
        "unzip -o /tmp/a.zip -d .ecw",
        # a merge driver run by hand writes its %A operand directly (git runs it in a merge)
        "wtctl git merge-json /tmp/o.json .ecw/plans/my-project.json /tmp/t.json x.json",
        "cd .ecw && wtctl git merge-json /tmp/o.json plans/my-project.json /tmp/t.json x",
        "curl -o .ecw/plans/my-project.json https://example.com/t.json",
        "curl -s --output=.ecw/plans/my-project.json https://example.com/t.json",
        "wget -q -O .ecw/plans/my-project.json https://example.com/t.json",
        "wget -P .ecw/plans https://example.com/my-project.json",
        "sudo -u root cp /tmp/x.json .ecw/plans/my-project.json",
        "busybox cp /tmp/x.json .ecw/plans/my-project.json",
        "git -C .ecw checkout -- plans/my-project.json",
        "git mv docs/plans/my-project.md docs/plans/new.md",
    ],
)
def test_bash_writing_protected_paths_is_blocked(
    ws: Path, hook_run: Run, command: str, agent: str | None
) -> None:
    code, out, err = hook_run(bash(ws, command, agent))
    assert (code, out) == (2, ""), err
    assert err.startswith("Blocked: the command") or err.startswith("Blocked: this python3")
    assert "wtctl" in err


@pytest.mark.parametrize(
    "command",
    [
        "cat .ecw/plans/my-project.json",
        "curl -o /tmp/t.json https://example.com/t.json",
        "wget -O - https://example.com/t.json",
        "sudo -u root cat .ecw/plans/my-project.json",
        "git -C docs status",
        "tar -cf /tmp/state.tar -C .ecw plans",
        "tar -tf /tmp/a.tar -C .ecw",
        "jq '.phases' .ecw/plans/my-project.json > /tmp/phases.json",
        "cp .ecw/plans/my-project.json /tmp/backup.json",
        "grep '>' .ecw/plans/my-project.json",
        "sed -i 's/.ecw/state/' README.md",
        "echo x >> docs/plans/my-project.md",
        "pytest -q 2>/dev/null",
        "ls docs/plans/*.md",
        "echo 'rm -rf .ecw' # just talking about it",
        "git add .ecw/plans/my-project.json && git commit -m 'tracker'",
        'echo "unclosed',
        "printf 'delete tracker\\n' | wtctl",
        'WT_SUBAGENT=0 wtctl "show progress"',
    ],
)
def test_the_main_agent_may_read_and_write_elsewhere(ws: Path, hook_run: Run, command: str) -> None:
    assert hook_run(bash(ws, command)) == SILENT


@pytest.mark.parametrize(
    "command",
    ['wtctl "create initiative 20"', 'wtctl --skip-consent "delete tracker"', "wtctl yes"],
)
def test_the_main_agent_may_run_guarded_wtctl(ws: Path, hook_run: Run, command: str) -> None:
    assert hook_run(bash(ws, command)) == SILENT


def test_agent_type_without_agent_id_is_the_main_agent(ws: Path, hook_run: Run) -> None:
    # the main thread of a `claude --agent NAME` session: agent_type, no agent_id
    assert hook_run(bash(ws, "wtctl yes", agent_type="reviewer")) == SILENT


def test_an_empty_agent_id_is_not_a_subagent(ws: Path, hook_run: Run) -> None:
    assert hook_run(bash(ws, 'wtctl "delete tracker"', agent="")) == SILENT


# ------------------------------------------------------------ subagents: one plain wtctl call


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        # the bypasses seen
        ("wtctl < phrases.txt", "redirects its input"),
        ('bash -lc "wtctl yes"', "runs 'bash'"),
        ("W=wtctl; $W --skip-consent 'create initiative 3'", "more than one command"),
        ("W=wtctl $W yes", "expands a variable"),
        ("alias w=wtctl; w yes", "more than one command"),
        ("alias w='wt''ctl'", "runs 'alias'"),
        ("echo eWVzCg== | base64 -d | wtctl", "pipes"),
        ("python3 -c 'from wtctl.cli import main; main([\"yes\"])'", "runs 'python3'"),
        # batch mode and here-documents
        ("cat f | wtctl", "pipes"),
        ("wtctl <<< yes", "redirects its input"),
        ("wtctl <<EOF\nyes\nEOF", "redirects its input"),
        ("wtctl <<-'EOF'\n\tyes\n\tEOF", "redirects its input"),
        ("wtctl < <(echo yes)", "redirects its input"),
        ("wtctl 0<phrases.txt", "redirects its input"),
        ('wtctl "show progress" > out.txt', "redirects its output"),
        ("printf 'yes\\n' | .venv/bin/wtctl", "pipes"),
        # several commands
        ('wtctl "show progress"\nwtctl yes', "a new line"),
        ('wtctl "show progress"\r\nwtctl yes', "a new line"),
        ('cd src && wtctl "show progress"', "more than one command"),
        ('wtctl "show progress" || wtctl yes', "pipes"),
        ('wtctl "show progress" & wtctl yes', "more than one command"),
        ('wtctl "show progress"; wtctl yes', "more than one command"),
        ('(wtctl "show progress")', "subshell"),
        ("{ wtctl yes; }", "brace"),
        # the program hidden or wrapped
        ("$(which wtctl) yes", "expands a variable"),
        ("`which wtctl` yes", "substitutes a command"),
        ("${WTCTL:-wtctl} yes", "expands a variable"),
        ("\\wtctl yes", "quotes or escapes"),
        ("'wtctl' yes", "quotes or escapes"),
        ("w''tctl yes", "quotes or escapes"),
        ('w"t"ctl yes', "quotes or escapes"),
        ("wt\\ctl yes", "quotes or escapes"),
        ("WTCTL yes", "runs 'WTCTL'"),
        ("command wtctl yes", "runs 'command'"),
        ("builtin exec wtctl yes", "runs 'builtin'"),
        ("exec wtctl yes", "runs 'exec'"),
        ("env wtctl yes", "runs 'env'"),
        ("env -u WT_SUBAGENT wtctl 'show progress'", "runs 'env'"),
        ("WT_SUBAGENT=0 wtctl 'show progress'", "sets a variable"),
        ("WT_TRACKER=x wtctl 'show progress'", "sets a variable"),
        ("xargs wtctl", "runs 'xargs'"),
        ("echo yes | xargs wtctl", "pipes"),
        ("find . -name x -exec wtctl yes \\;", "runs 'find'"),
        ("find . -exec wtctl {} +", "brace"),
        ("timeout 5 wtctl yes", "runs 'timeout'"),
        ("nohup wtctl yes", "runs 'nohup'"),
        ("nice wtctl yes", "runs 'nice'"),
        ("sudo wtctl yes", "runs 'sudo'"),
        ("time wtctl yes", "runs 'time'"),
        ("! wtctl yes", "runs '!'"),
        ("eval wtctl yes", "runs 'eval'"),
        ("eval 'wtctl yes'", "runs 'eval'"),
        ("source run-wtctl.sh", "runs 'source'"),
        (". ./wtctl-batch.sh", "runs '.'"),
        ("sh -c 'wtctl yes'", "runs 'sh'"),
        ("python -m wtctl yes", "runs 'python'"),
        (".venv/bin/python -m wtctl 'create initiative 3 called X'", "runs '.venv/bin/python'"),
        ("uv run wtctl yes", "runs 'uv'"),
        ("./run_wtctl.sh yes", "runs './run_wtctl.sh'"),
        ("WTD_SOCKET=/tmp/other.sock python3 client.py", "sets a variable"),
        ("/usr/bin/wtctl.sh yes", "runs '/usr/bin/wtctl.sh'"),
        ("$'\\x77tctl' yes", "expands a variable"),
        (".venv/bin/wt* yes", "glob"),
        ("wtct? yes", "glob"),
        ("wtctl ? ", "glob"),
        ("wtctl [y]", "glob"),
        ("wtctl ye{s,}", "brace"),
        ('wtctl "show progress" # yes', "comment"),
        ('wtctl "unclosed', "unclosed quote"),
        ('wtctl "$(echo yes)"', "expands a variable"),
        ('wtctl "`echo yes`"', "substitutes a command"),
        ("wtctl $PHRASE", "expands a variable"),
        # anything else that mentions the guarded words
        ("wtd --socket /tmp/x.sock", "runs 'wtd'"),
        ("python -c 'import wtd'", "runs 'python'"),
        ("cat .ecw/plans/my-project.json", "runs 'cat'"),
        ("cat .E''CW/plans/my-project.json", "runs 'cat'"),
        ("ls docs//plans", "runs 'ls'"),
        ("ls docs/./plans", "runs 'ls'"),
        ("ls .venv/bin/wt*", "glob"),
    ],
)
def test_a_subagent_command_mentioning_wtd_must_be_one_plain_wtctl_call(
    ws: Path, hook_run: Run, command: str, problem: str
) -> None:
    code, out, err = hook_run(bash(ws, command, agent=SUBAGENT, agent_type="Explore"))
    assert (code, out) == (2, ""), err
    assert err.startswith("Blocked: this command mentions ")
    assert problem in err
    assert "must be one plain wtctl call" in err and "Read tool" in err


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ('wtctl "create initiative 20"', "create initiatives"),
        ('wtctl "create initiative 3: Payments"', "create initiatives"),
        ('wtctl --tracker x "create initiative 3"', "create initiatives"),
        ("wtctl create initiative 3 called Payments", "create initiatives"),
        ('wtctl --tracker docs/plans/my-project.md "delete tracker"', "delete trackers"),
        ('wtctl -- "delete tracker"', "delete trackers"),
        ('wtctl "Delete this tracker."', "delete trackers"),
        ('wtctl --json "delete tracker"', "delete trackers"),
        ('wtctl "mark phase 2 complete"', "many tasks"),
        ('wtctl "Mark   Phase 2 complete"', "many tasks"),
        ("wtctl 'mark\tphase 2 as done'", "many tasks"),
        ('wtctl "mark all tasks in phase 2 done"', "many tasks"),
        ("wtctl mark all tasks in phase 2 done", "many tasks"),
        ("wtctl '\"mark phase 2 complete\"'", "many tasks"),
        ("wtctl yes", "consent"),
        ("wtctl y", "consent"),
        ("wtctl n", "consent"),
        ("wtctl no", "consent"),
        ('wtctl "YES!"', "consent"),
        ("wtctl 'approve'", "consent"),
        ('wtctl "Approved."', "consent"),
        ("wtctl always", "consent"),
        ("wtctl '  yes  '", "consent"),
        ("wtctl '\"yes\"'", "consent"),
        ("wtctl '' yes", "consent"),
        ("wt\\\nctl yes", "consent"),
        ("wtctl \\\n yes", "consent"),
        ('.venv/bin/wtctl "yes"', "consent"),
        ("/usr/local/bin/wtctl yes", "consent"),
        ('wtctl "you may create initiatives as needed"', "consent"),
        ("wtctl You  may create initiatives as needed!", "consent"),
        ('wtctl "revoke consent"', "consent"),
        ('wtctl "revoke consent for bulk changes"', "consent"),
        ('wtctl "revoke all consents"', "consent"),
        ("wtctl undo", "undo"),
        ('wtctl "undo the last change"', "undo"),
        ('wtctl --skip-consent "mark task 2.2 complete"', "--skip-consent"),
        ('wtctl "mark task 2.2 complete" --skip-consent', "--skip-consent"),
        ('wtctl --agent main "show progress"', "name themselves"),
        ('wtctl --agent=main "show progress"', "name themselves"),
        ('wtctl "show progress" --agent main', "name themselves"),
        ('wtctl --consent-token abc "yes"', "not a wtctl option"),
        ('wtctl -x "show progress"', "not a wtctl option"),
        ("wtctl", "phrase on the command line"),
        ("wtctl --json", "phrase on the command line"),
        ("wtctl --tracker docs/plans/my-project.md", "phrase on the command line"),
        ("wtctl --", "phrase on the command line"),
        # not a phrase: git's merge drivers write the tracker files themselves
        ("wtctl git merge-json /tmp/o.json /tmp/a.json /tmp/t.json x.json", "wtctl git"),
        ("wtctl git merge-view /tmp/o.md docs/plans/new.md /tmp/t.md x.md", "wtctl git"),
        ("wtctl git setup", "wtctl git"),
        ("wtctl git render my-project", "wtctl git"),
        ("wtctl mcp", "wtctl mcp"),
        ('wtctl "import plan docs/plans/race.md as 07-new"', "import a plan"),
        ("wtctl import plan .kiro/specs/x/tasks.md", "import a plan"),
        ("wtctl board --port 0", "wtctl board"),
    ],
)
def test_a_subagent_plain_wtctl_call_is_checked(
    ws: Path, hook_run: Run, command: str, words: str
) -> None:
    code, out, err = hook_run(bash(ws, command, agent=SUBAGENT, agent_type="Explore"))
    assert (code, out) == (2, ""), err
    assert err.startswith("Blocked: ")
    assert words in err
    if "phrase on the command line" not in words:
        assert "Ask the main agent or the user" in err


@pytest.mark.parametrize(
    "command",
    [
        'wtctl "mark task 2.2 complete"',
        "wtctl mark task 2.2 as done",
        "wtctl show progress",
        'wtctl --subagent "what\'s next"',
        'wtctl --json --tracker docs/plans/my-project.md "show progress"',
        'wtctl --tracker=docs/plans/my-project.md "list tasks in phase 2"',
        'wtctl --agent Explore "claim next"',
        'wtctl --no-autostart -v --show-health "status"',
        'wtctl "show consent"',
        'wtctl "history task 2.2"',
        "wtctl 'block task 2.3 because: waiting on yes from QA'",
        'wtctl "add task to phase 2: delete tracker code"',
        "wtctl -- --weird",
        ".venv/bin/wtctl 'show task 2.1'",
        "~/.local/bin/wtctl 'show task 2.1'",
        "wtctl hook pre-tool-use",
        "wtctl daemon",
        "wtctl events --all",
        "wtctl --version",
        "wtctl git check",
        '  wtctl "show progress"  \n',
        'wtctl "show \\"task\\" 2.1"',
        "wtctl show\\ progress",
        'wtctl "mark task 2.2 complete" \\\n  --json',
    ],
)
def test_a_subagent_plain_wtctl_call_is_allowed_and_marked(
    ws: Path, hook_run: Run, command: str
) -> None:
    updated = allowed_input(hook_run(bash(ws, command, agent=SUBAGENT, agent_type="Explore")))
    assert updated == {
        "command": f"WT_SUBAGENT=1 WT_AGENT=Explore {command.strip()}",
        "description": "run",
    }


def test_the_whole_tool_input_is_kept(ws: Path, hook_run: Run) -> None:
    tool_input = {
        "command": 'wtctl "show progress"',
        "description": "Show tracker progress",
        "timeout": 120000,
        "run_in_background": False,
    }
    updated = allowed_input(hook_run(payload(ws, "Bash", tool_input, SUBAGENT, "Explore")))
    assert updated == {
        **tool_input,
        "command": 'WT_SUBAGENT=1 WT_AGENT=Explore wtctl "show progress"',
    }


def test_the_agent_is_named_by_agent_id_without_agent_type(ws: Path, hook_run: Run) -> None:
    updated = allowed_input(hook_run(bash(ws, "wtctl next", agent=SUBAGENT)))
    assert updated["command"] == f"WT_SUBAGENT=1 WT_AGENT={SUBAGENT} wtctl next"


@pytest.mark.parametrize("name", ["code reviewer", "it's $(rm -rf ~)", "`x`; yes", "ünï cödé"])
def test_the_agent_name_is_shell_quoted(ws: Path, hook_run: Run, name: str) -> None:
    updated = allowed_input(hook_run(bash(ws, "wtctl next", agent=SUBAGENT, agent_type=name)))
    assert shlex.split(updated["command"]) == ["WT_SUBAGENT=1", f"WT_AGENT={name}", "wtctl", "next"]


def test_a_subagent_may_repeat_its_own_name(ws: Path, hook_run: Run) -> None:
    command = "wtctl --agent 'code reviewer' next"
    assert allowed_input(hook_run(bash(ws, command, SUBAGENT, "code reviewer")))


@pytest.mark.parametrize(
    "command",
    [
        "pytest -q",
        "echo yes",
        "yes | head -3",
        "git status && git diff",
        "cat src/app.py | grep approve",
        "ls docs",
        "echo 'delete tracker'",
        "bash -c 'echo create initiative 3'",
        # wtctl and wtd count as whole words only
        "wtctlx yes",
        "ls newtdir",
        "python3 scripts/showtdiff.py",
        "grep -rn 'newtd' src",
    ],
)
def test_a_subagent_command_mentioning_nothing_is_left_alone(
    ws: Path, hook_run: Run, command: str
) -> None:
    assert hook_run(bash(ws, command, agent=SUBAGENT, agent_type="Explore")) == SILENT


def test_the_hook_knows_exactly_wtctl_options() -> None:
    assert set(cli._VALUE_FLAGS) == hook.VALUE_FLAGS
    assert set(cli._BOOL_FLAGS) | {"--no-autostart"} == hook.BOOL_FLAGS


@pytest.mark.parametrize(
    ("command", "word"),
    [
        ("wtctl x", "wtctl"),
        ("WTCTL x", "wtctl"),
        ("w''tctl x", "wtctl"),
        ('w"t"c"t"l x', "wtctl"),
        ("wt\\ctl x", "wtctl"),
        ("wt\\\nctl x", "wtctl"),
        ("$'\\x77tctl' x", "wtctl"),
        ("$'\\167tctl' x", "wtctl"),
        ("$'w\\u0074ctl' x", "wtctl"),
        ("python -m wtctl", "wtctl"),
        ("python -c 'from wtctl.cli import main'", "wtctl"),
        ("python -c 'import wtd'", "wtd"),
        ("pkill wtd", "wtd"),
        ("cat .ECW/x", ".ecw"),
        ("ls docs//plans", "docs/plans"),
        ("ls docs/./plans/", "docs/plans"),
        ("ls .venv/bin/wt*", ".venv/bin/wt*"),
        ("ls [w]td", "[w]td"),
        ("echo hi", None),
        ("ls *", None),
        ("ls docs plans", None),
        ("echo $'\\x41'", None),
        # whole words: not next to a letter or digit; "_", "-", ".", "/" separate words
        ("ls newtdir", None),
        ("python3 scripts/showtdiff.py", None),
        ("wtctlx yes", None),
        ("echo swtd wtd2 éwtd wtdé", None),
        ("./run_wtctl.sh", "wtctl"),
        ("bash wtctl-batch.sh", "wtctl"),
        ("WTD_SOCKET=/tmp/s python3 x.py", "wtd"),
        ("pytest tests/test_wtd_integration.py", "wtd"),
        ("pip install wtd-client", "wtd"),
        ("cat /srv/wtd/x", "wtd"),
        ("python -m wtd.tracker", "wtd"),
    ],
)
def test_mentioned_sees_through_spelling(command: str, word: str | None) -> None:
    assert hook.mentioned(command) == word


PATHOLOGICAL = {
    "a long word, then a glob": ("a" * 100_000 + " b*", 0),
    "many ANSI-C strings": ("$'\\" * 30_000, 0),
    "an unclosed ANSI-C string": ("$'" + "x" * 100_000, 0),
    "many brackets": ("[" * 100_000, 0),
    "many slashes": ("/" * 100_000 + "wtd", 2),
    "many quotes": ("wtctl " + '"' * 100_001, 2),
    "a phrase of spaces": ("wtctl 'mark phase 2 " + " " * 100_000 + "x'", 2),
    "many words": ("wtctl " + "a " * 50_000, 0),
}


@pytest.mark.parametrize(("command", "code"), PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_a_pathological_subagent_command_is_decided(command: str, code: int) -> None:
    # tests/tracker/test_hostile_input.py times such inputs; here: a decision, no crash
    decided = hook.decide(bash(Path("/project"), command, SUBAGENT))
    assert decided[0] == code and "warning" not in decided[2]


# ------------------------------------------------------------ the grammar's guarded phrases

GUARDED_COMMANDS = tuple(
    getattr(commands, name)
    for name in (
        "CreateInitiative",
        "DeleteTracker",
        "SetPhaseTasks",
        "ConsentAnswer",
        "GrantBlanket",
        "RevokeConsent",
    )
    if hasattr(commands, name)
)


def _cased(word: str) -> st.SearchStrategy[str]:
    flags = st.lists(st.booleans(), min_size=len(word), max_size=len(word))
    return flags.map(
        lambda up: "".join(c.upper() if u else c for c, u in zip(word, up, strict=True))
    )


_GAP = st.text(alphabet=" \t", min_size=1, max_size=3)
_NUMBER = st.integers(min_value=1, max_value=120).map(str)
_STATUS = st.sampled_from(["complete", "done", "pending", "in progress", "blocked", "COMPLETED"])
_TITLE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABC0123-", min_size=1, max_size=20).filter(
    lambda t: t.strip() != ""
)
_KIND = st.sampled_from(sorted(vocabulary.KIND_NAMES))


@st.composite
def _words(draw: st.DrawFn, parts: Sequence[str | st.SearchStrategy[str]]) -> str:
    """Literal words in any case, and drawn values, joined by runs of spaces/tabs."""
    out: list[str] = []
    for part in parts:
        text = draw(_cased(part) if isinstance(part, str) else part)
        out.append(text)
        out.append(draw(_GAP))
    return "".join(out[:-1])


_GUARDED_PHRASE = st.one_of(
    _words(["create", "initiative", _NUMBER]),
    _words(["create", "initiative", _NUMBER, "called", _TITLE]),
    st.tuples(_words(["create", "initiative", _NUMBER]), _TITLE).map(lambda p: f"{p[0]}: {p[1]}"),
    _words(["delete", "tracker"]),
    _words(["delete", "this", "tracker"]),
    _words(["mark", "phase", _NUMBER, _STATUS]),
    _words(["mark", "phase", _NUMBER, "as", _STATUS]),
    _words(["mark", "all", "tasks", "in", "phase", _NUMBER, _STATUS]),
    _words(["mark", "all", "tasks", "in", "phase", _NUMBER, "as", _STATUS]),
    st.sampled_from(sorted(vocabulary.CONSENT_ANSWERS)).flatmap(lambda a: _words(a.split())),
    _words(["revoke", "consent"]),
    _words(["revoke", "all", "consents"]),
    _words(["revoke", "consent", "for", _KIND]),
)


@st.composite
def _dressed(draw: st.DrawFn) -> str:
    """A guarded phrase as people type it: spaces around, punctuation after, quotes."""
    phrase: str = draw(_GUARDED_PHRASE)
    phrase += draw(st.sampled_from(["", ".", "!", "?", "!!", " .", "?!", "  "]))
    quote: str = draw(st.sampled_from(["", '"', "'"]))
    lead: str = draw(st.sampled_from(["", " ", "\t"]))
    return lead + quote + phrase + quote


@given(_dressed())
def test_every_guarded_phrase_of_the_grammar_is_blocked(phrase: str) -> None:
    parsed = parse(phrase)
    assume(isinstance(parsed, GUARDED_COMMANDS))  # the grammar may not have every phrase yet
    for command in (
        f"wtctl {shlex.quote(phrase)}",
        "wtctl " + " ".join(shlex.quote(w) for w in phrase.split()),
        f"/opt/venv/bin/wtctl --json -- {shlex.quote(phrase)}",
    ):
        code, out, err = hook.decide(bash(Path("/project"), command, SUBAGENT, "Explore"))
        assert (code, out) == (2, ""), (command, parsed, err)
        assert "subagents may not" in err


@given(_words(["mark", "task", st.sampled_from(["1.1", "2.2", "3.4"]), _STATUS]))
def test_single_task_changes_pass(phrase: str) -> None:
    assert not isinstance(parse(phrase), GUARDED_COMMANDS)
    code, out, _ = hook.decide(bash(Path("/p"), f"wtctl {shlex.quote(phrase)}", SUBAGENT))
    assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "allow"


# ------------------------------------------------------------ Bash writes: more ways


@pytest.fixture
def linked(ws: Path) -> Path:
    """The workspace with symlinks to its guarded folders: d → docs, state → .ecw."""
    (ws / "d").symlink_to(ws / "docs")
    (ws / "state").symlink_to(ws / ".ecw")
    (ws / "build" / "lib").mkdir(parents=True)
    return ws


@pytest.mark.parametrize("agent", [None, SUBAGENT])
@pytest.mark.parametrize(
    "command",
    [
        # here-documents, here-strings and pipes feeding an interpreter or a shell
        "python3 - <<'EOF'\nimport json\nopen('.ecw/consent-state.json', 'w').write('{}')\nEOF",
        "python3 <<EOF\nopen('.ecw/consent-state.json', 'w').write('{}')\nEOF",
        "python3 -u - <<-'PY'\n\topen('.ecw/plans/my-project.json', 'a')\n\tPY",
        "bash <<EOF\nrm -rf .ecw\nEOF",
        "sh -s <<'EOF'\necho '{}' > .ecw/plans/my-project.json\nEOF",
        "node <<'EOF'\nrequire('fs').writeFileSync('.ecw/plans/my-project.json', '{}')\nEOF",
        "perl <<'EOF'\nopen(my $f, '>', '.ecw/plans/my-project.json'); print $f '{}';\nEOF",
        'perl -e \'open my $f, ">", ".ecw/plans/my-project.json"\'',
        "cat <<'EOF' | python3\nopen('.ecw/plans/my-project.json', 'w')\nEOF",
        "echo \"open('.ecw/plans/my-project.json', 'w')\" | python3 -",
        "printf 'rm -rf .ecw\\n' | bash",
        "python3 <<< \"open('.ecw/plans/my-project.json', 'w')\"",
        "cat <<EOF > notes.md\n$(rm -rf .ecw)\nEOF",
        "bash -e -c 'rm .ecw/consent-state.json'",
        "bash -lc 'rm .ecw/consent-state.json'",
        # in-place editors
        "awk -i inplace '{print}' .ecw/plans/my-project.json",
        "gawk -i inplace -v x=1 '{print}' .ecw/plans/my-project.json",
        "awk --include=inplace -f fix.awk .ecw/plans/my-project.json",
        "ruby -i -pe 'gsub(/a/, \"b\")' .ecw/plans/my-project.json",
        "jq . x.json | sponge .ecw/plans/my-project.json",
        "ex -sc '%s/pending/complete/|x' .ecw/plans/my-project.json",
        "vim -c '%s/a/b/' -c wq .ecw/plans/my-project.json",
        "vi -c 'w! .ecw/plans/my-project.json' -c q /tmp/y",
        "ed -s .ecw/plans/my-project.json <<< $',s/a/b/\\nw'",
        "ed -s /tmp/y <<'EOF'\nw .ecw/plans/my-project.json\nEOF",
        # globs and braces, expanded in the real working folder
        "rm -rf .e*",
        "rm -rf ./.ec?",
        "mv .e* /tmp/",
        "cp -r /tmp/x .[e]cw",
        "rm -rf {.ecw,build}",
        "rm -rf ~/.ecw",
        "touch .ecw/plans/*.json",
        "echo '{}' > .e*/plans/my-project.json",
        # a folder holding .ecw/, and find from one
        "rm -rf .",
        "rm -r ./",
        "find . -name '*.json' -delete",
        "find -L . -name 'my-project.*' -exec rm {} +",
        "find . -path '*/plans/*' -exec sed -i s/a/b/ {} +",
        "find . -type f -delete",
        "find . ! -name '*.pyc' -delete",
        # symlinked folders, the working folder
        "cp /tmp/x.md d/plans/new.md",
        "cd d && cp /tmp/x.md plans/new.md",
        "touch d/plans/{a,b}.md",
        "python3 -c \"open('d/plans/new.md', 'w').write('x')\"",
        "python3 -c \"open('state/plans/my-project.json', 'w').write('{}')\"",
        "echo x > state/consent-state.json",
        "cd .ecw/plans && python3 -c \"open('my-project.json', 'w').write('{}')\"",
        "cd state && truncate -s 0 plans/my-project.json",
    ],
)
def test_bash_writing_protected_paths_in_other_ways_is_blocked(
    linked: Path, hook_run: Run, monkeypatch: pytest.MonkeyPatch, command: str, agent: str | None
) -> None:
    monkeypatch.setenv("HOME", str(linked))
    code, out, err = hook_run(bash(linked, command, agent))
    assert (code, out) == (2, ""), err
    assert err.startswith(("Blocked: the command ", "Blocked: this ")), err
    assert "wtctl" in err


@pytest.mark.parametrize(
    ("cwd", "command"),
    [
        (".ecw/plans", "python3 -c \"import json; open('my-project.json', 'w').write('{}')\""),
        (".ecw", "sed -i s/a/b/ plans/my-project.json"),
        (".ecw/plans", "touch new.json"),
        ("docs/plans", "touch new.md"),
        ("docs", "cp /tmp/x.md plans/new.md"),
        ("src", "rm -rf ../.e*"),
    ],
)
def test_bash_writes_are_resolved_from_the_payload_cwd(
    ws: Path, hook_run: Run, cwd: str, command: str
) -> None:
    code, out, err = hook_run(bash(ws, command, cwd=ws / cwd))
    assert (code, out) == (2, ""), err


def test_write_creating_a_plan_through_a_symlinked_folder_is_blocked(
    linked: Path, hook_run: Run
) -> None:
    brand_new = {"file_path": str(linked / "d" / "plans" / "brandnew.md"), "content": "# x"}
    code, _, err = hook_run(payload(linked, "Write", brand_new))
    assert code == 2 and "new docs/plans/*.md" in err
    existing = {"file_path": "d/plans/my-project.md", "content": "# x"}
    assert hook_run(payload(linked, "Write", existing)) == SILENT


@pytest.mark.parametrize(
    "command",
    [
        "find . -name '*.pyc' -delete",
        "find . -type d -name __pycache__ -exec rm -rf {} +",
        "find . -name '*.md' -exec grep -l TODO {} +",
        "find . -newer x -exec cp {} /tmp/backup/ \\;",
        "git status",
        "git reset --hard",
        "git stash",
        "git checkout .",
        "rm -rf build/",
        "rm -rf build/*",
        "rm -rf ./build ./dist *.egg-info",
        "python3 - <<'EOF'\nprint(open('.ecw/plans/my-project.json').read())\nEOF",
        "cat <<'EOF' > notes.md\nrm -rf .ecw, then write it again\nEOF",
        "python3 -c \"open('out.json', 'w').write('{}')\"",
        "python3 tool.py <<'EOF'\nhello\nEOF",
        "bash scripts/build.sh",
        "sed -i 's/| ⏳ Pending |/| ✅ Complete |/g' docs/*/my-project.md",
        "sed -i s/a/b/ d/plans/my-project.md",
        "cp .ecw/plans/my-project.json /tmp/",
        "vim -c 'w /tmp/x' -c q src/app.py",
        "awk '{print > \"out.txt\"}' src/app.py",
        "echo '{}' > /dev/null 2>&1",
    ],
)
def test_the_main_agent_may_still_run_ordinary_commands(
    linked: Path, hook_run: Run, command: str
) -> None:
    assert hook_run(bash(linked, command)) == SILENT


def test_heredoc_bodies_are_kept_apart_from_the_words() -> None:
    simples = hook.simple_commands("python3 - <<'EOF' > out\nx = 1\nEOF\necho <<-X y\n\tz\n\tX")
    assert [s.words for s in simples] == [["python3", "-"], ["echo", "y"]]
    assert simples[0].stdin == [("x = 1\n", False)]
    assert simples[0].writes == ["out"]
    assert simples[1].stdin == [("\tz\n", True)]


# ------------------------------------------------------------ subagents: paths

SED = "sed -i 's/| ⏳ Pending |/| ✅ Complete |/g' "


@pytest.mark.parametrize(
    ("cwd", "command"),
    [
        # the bulk edit of the view, without writing docs/plans
        ("docs", SED + "plans/my-project.md"),
        ("", "cd docs && " + SED + "plans/my-project.md"),
        ("", "cd docs; " + SED + "plans/my-project.md"),
        ("", SED + "docs/*/my-project.md"),
        ("", SED + "do?s/pla[n]s/my-project.md"),
        ("", SED + "d/plans/my-project.md"),
        ("", SED + "{docs,x}/plans/my-project.md"),
        ("", "cd d && " + SED + "plans/*.md"),
        ("src", SED + "../docs/plans/my-project.md"),
        ("src", SED + "~/plans/my-project.md"),
        ("docs", "perl -pi -e 's/Pending/Complete/' plans/*"),
        ("", "bash -c 'cd docs && " + SED.replace("'", '"') + "plans/my-project.md'"),
        ("", "find . -name '*.md' -exec " + SED + "{} +"),
        ("docs", "find . -name 'my-*' -exec " + SED + "{} \\;"),
        # the tracker JSON
        (".ecw/plans", "python3 -c \"import json; json.load(open('my-project.json'))\""),
        ("", "python3 -c \"import json; json.load(open('state/plans/my-project.json'))\""),
        # interpreters writing the view
        ("docs", "python3 -c \"open('plans/my-project.md', 'w').write('x')\""),
        ("", "python3 -c \"open('d/plans/my-project.md', 'w').write('x')\""),
        ("", "python3 - <<'EOF'\nopen('d/plans/my-project.md', 'w').write('x')\nEOF"),
        # writes from inside a guarded folder, or from docs/ next to plans/
        ("docs/plans", "touch notes.txt"),
        ("docs", "echo x > plans.bak"),
        ("docs", "python3 -c \"import os; os.rename('pl' + 'ans', 'x')\""),
        ("", "cd d/plans"),
        # reads and moves through paths
        ("docs", "cat plans/my-project.md"),
        ("", "cat d/plans/my-project.md"),
        ("", "cat < d/plans/my-project.md"),
        ("", "mv d/plans/my-project.md /tmp/x.md"),
        ("", "tee d/plans/my-project.md < /tmp/x"),
        ("docs", "ls plans"),
        ("", "ls docs/*"),
        ("", "rm -rf docs"),
        ("docs", "rm -rf *"),
        ("", "TARGET=d/plans/my-project.md make"),
        ("", "dd if=/tmp/x of=d/plans/my-project.md"),
    ],
)
def test_a_subagent_reaching_the_tracker_through_paths_must_call_wtctl(
    linked: Path, hook_run: Run, monkeypatch: pytest.MonkeyPatch, cwd: str, command: str
) -> None:
    monkeypatch.setenv("HOME", str(linked / "docs"))
    code, out, err = hook_run(bash(linked, command, SUBAGENT, "Explore", cwd=linked / cwd))
    assert (code, out) == (2, ""), err
    assert err.startswith(("Blocked: this command mentions ", "Blocked: this command writes "))
    assert "docs/plans/" in err or ".ecw/" in err
    assert "one plain wtctl call" in err and "Read tool" in err


@pytest.mark.parametrize(
    ("cwd", "command"),
    [
        ("docs", SED + "plans/my-project.md"),
        ("", "cd docs && " + SED + "plans/my-project.md"),
        ("", SED + "d/plans/my-project.md"),
        ("", "find . -name '*.md' -exec " + SED + "{} +"),
    ],
)
def test_the_main_agent_may_edit_the_view_through_paths(
    linked: Path, hook_run: Run, cwd: str, command: str
) -> None:
    assert hook_run(bash(linked, command, cwd=linked / cwd)) == SILENT


@pytest.mark.parametrize(
    ("cwd", "command"),
    [
        ("", "ls docs"),
        ("", "cat docs/*.md"),
        ("", "grep -rn TODO src"),
        ("", "sed -i s/a/b/ src/*.py"),
        ("", "find . -name '*.pyc' -delete"),
        ("", "find docs -name '*.md'"),
        ("", "rm -rf build/"),
        ("", "cp -r src /tmp/backup"),
        ("", "python3 -c \"open('out.txt', 'w').write('x')\""),
        ("", "git diff -- src"),
        ("", "ls -la ."),
        ("src", "echo x > notes.md"),
        ("src", "cat ../README.md"),
        ("docs", "ls"),
        ("docs", "cat notes.md"),
        (".ecw/plans", "git status"),
        (".ecw/plans", "ls"),
    ],
)
def test_a_subagent_command_leading_nowhere_guarded_is_left_alone(
    linked: Path, hook_run: Run, cwd: str, command: str
) -> None:
    assert hook_run(bash(linked, command, SUBAGENT, cwd=linked / cwd)) == SILENT


@pytest.mark.parametrize(
    "command",
    [
        "ls " + "many/*/ " * 50,
        "echo " + "{a,b}" * 20,
        "echo " + " ".join(f"many/d{i % 100}/f{i}" for i in range(41_000)),
    ],
)
def test_a_subagent_command_naming_too_many_paths_is_blocked(
    ws: Path, hook_run: Run, command: str
) -> None:
    for i in range(100):
        (ws / "many" / f"d{i}").mkdir(parents=True)
    code, out, err = hook_run(bash(ws, command, SUBAGENT))
    assert (code, out) == (2, "")
    assert "names more files than the hook resolves" in err
    assert hook_run(bash(ws, command)) == SILENT  # the main agent: judged on what was resolved


PATHOLOGICAL_PATHS = {
    "deep glob": "ls " + "*/" * 200,
    "nested braces": "ls " + "{" * 3000 + "a,b" + "}" * 3000,
    "unmatched braces": "ls " + "{," * 3000,
    "a long path": "ls " + "a/" * 3000,
    "many cds": "cd a && " * 5000 + "ls",
    "many string literals": "python3 - <<'EOF'\n" + "x = 'a/b'\n" * 20_000 + "EOF",
    "a glob of the root": "ls /*/*/*/*",
}


@pytest.mark.parametrize("command", PATHOLOGICAL_PATHS.values(), ids=PATHOLOGICAL_PATHS.keys())
def test_a_pathological_path_is_decided(ws: Path, command: str) -> None:
    for agent in (None, SUBAGENT):
        decided = hook.decide(bash(ws, command, agent))
        assert decided[0] in (0, 2) and "warning" not in decided[2], decided


@pytest.mark.parametrize("junk", ["\x00", "~\ud800", "\ud800", "~\x00x", "$'\\x00'"])
def test_odd_characters_never_make_the_hook_give_up(ws: Path, hook_run: Run, junk: str) -> None:
    command = f"cd docs && {SED}plans/my-project.md {junk}"
    code, out, err = hook_run(bash(ws, command, SUBAGENT))
    assert (code, out) == (2, "") and "warning" not in err, err


# ------------------------------------------------------------ subagents: where wtctl may point


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ('wtctl --socket /tmp/x.sock "show progress"', "--socket"),
        ('wtctl --socket=/tmp/x.sock "show progress"', "--socket"),
        ('wtctl "show progress" --socket /tmp/x.sock', "--socket"),
        ("wtctl daemon --socket /tmp/x.sock", "--socket"),
        ("wtctl events --socket /tmp/x.sock", "--socket"),
        ('wtctl --tracker /etc/docs/plans/x.md "show progress"', "outside this workspace"),
        ('wtctl --tracker ../elsewhere.md "show progress"', "outside this workspace"),
        ('wtctl --tracker=~/x.md "show progress"', "outside this workspace"),
        ('wtctl --tracker .. "show progress"', "outside this workspace"),
        ('wtctl --tracker out/plan.md "show progress"', "outside this workspace"),
        ("wtctl events --tracker /tmp/x.md", "outside this workspace"),
        ('wtctl "restore tracker"', "restore a tracker"),
        ('wtctl "restore tracker my-project"', "restore a tracker"),
        ("wtctl Restore  Tracker  old-plan.", "restore a tracker"),
        ("wtctl 'undo last change'", "undo"),
    ],
)
def test_a_subagent_wtctl_call_stays_in_its_workspace(
    ws: Path, hook_run: Run, monkeypatch: pytest.MonkeyPatch, command: str, words: str
) -> None:
    monkeypatch.setenv("HOME", "/nonexistent-home")
    (ws / "out").symlink_to(ws.parent)
    code, out, err = hook_run(bash(ws, command, SUBAGENT, "Explore"))
    assert (code, out) == (2, ""), err
    assert err.startswith("Blocked: ") and words in err
    assert "Ask the main agent or the user" in err


@pytest.mark.parametrize(
    ("cwd", "command"),
    [
        ("", 'wtctl --tracker my-project "show progress"'),
        ("", 'wtctl --tracker my-project.md "show progress"'),
        ("", 'wtctl --tracker docs/plans/my-project.md "show progress"'),
        ("", 'wtctl --tracker {ws}/docs/plans/my-project.md "show progress"'),
        ("", 'wtctl --tracker ./docs/plans/my-project.md "show progress"'),
        ("src", 'wtctl --tracker ../docs/plans/my-project.md "show progress"'),
        ("docs/plans", 'wtctl --tracker my-project.md "show progress"'),
        ("", 'wtctl "restore trackers" '),
    ],
)
def test_a_subagent_wtctl_call_in_its_workspace_is_allowed(
    ws: Path, hook_run: Run, cwd: str, command: str
) -> None:
    command = command.format(ws=ws)
    updated = allowed_input(hook_run(bash(ws, command, SUBAGENT, "Explore", cwd=ws / cwd)))
    assert updated["command"] == f"WT_SUBAGENT=1 WT_AGENT=Explore {command.strip()}"


def test_a_git_checkout_is_a_workspace_too(tmp_path: Path, hook_run: Run) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    inside = 'wtctl --tracker ../docs/plans/x.md "show progress"'
    assert allowed_input(hook_run(bash(repo, inside, SUBAGENT, cwd=repo / "sub")))
    outside = 'wtctl --tracker ../../x.md "show progress"'
    assert hook_run(bash(repo, outside, SUBAGENT, cwd=repo / "sub")).code == 2


def test_the_hook_blocks_every_phrase_the_vocabulary_bars_subagents() -> None:
    barred = {pattern for pattern, _ in hook._patterns()}
    for phrase in vocabulary.SUBAGENT_BARRED:
        assert vocabulary.compile_phrase(phrase) in barred


# ------------------------------------------------------------ bad input never wedges


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   \n",
        "{not json",
        "[1, 2]",
        '"Write"',
        '{"tool_name": 3}',
        '{"tool_name": "Write", "tool_input": "x.json"}',
        '{"tool_name": "Bash", "tool_input": null}',
        '{"tool_name": "Write", "tool_input": {"content": "no path"}}',
        '{"tool_name": "Bash", "tool_input": {"command": ["ls"]}}',
        '{"tool_name": "Bash", "tool_input": {"command": ["wtctl"]}, "agent_id": "a"}',
    ],
)
def test_bad_input_allows_with_a_warning(hook_run: Run, raw: str) -> None:
    code, out, err = hook_run(raw)
    assert (code, out) == (0, "")
    assert err.startswith("wtctl hook: warning:")


@pytest.mark.parametrize("tool", ["Read", "Grep", "Glob", "WebFetch", "mcp__github__create_issue"])
def test_other_tools_are_allowed_silently(ws: Path, hook_run: Run, tool: str) -> None:
    raw = payload(ws, tool, {"file_path": str(ws / ".ecw" / "plans" / "my-project.json")}, SUBAGENT)
    assert hook_run(raw) == SILENT


def test_unknown_tool_with_non_object_input_is_allowed_silently(ws: Path, hook_run: Run) -> None:
    assert hook_run(payload(ws, "Task", "do things")) == SILENT


def test_wrong_subcommand_is_a_non_blocking_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert hook.main(["post-tool-use"]) == 1
    assert "usage" in capsys.readouterr().err


# ------------------------------------------------------------ real processes

ROOT = Path(__file__).resolve().parents[1]


def subprocess_hook(raw: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "wtctl.hook", "pre-tool-use"],
        input=raw,
        capture_output=True,
        cwd=ROOT,
        timeout=30,
    )


def test_process_blocks_a_write_into_ecw(ws: Path) -> None:
    done = subprocess_hook(
        payload(ws, "Write", {"file_path": ".ecw/plans/a.json", "content": ""}).encode()
    )
    assert done.returncode == 2
    assert b"under .ecw/" in done.stderr and done.stdout == b""


def test_process_blocks_a_subagent_creating_an_initiative(ws: Path) -> None:
    done = subprocess_hook(bash(ws, 'wtctl "create initiative 20"', agent="a1").encode())
    assert (done.returncode, done.stdout) == (2, b"")
    assert b"subagents may not create initiatives" in done.stderr


def test_process_answers_a_subagent_plain_call_with_json(ws: Path) -> None:
    done = subprocess_hook(bash(ws, 'wtctl "show progress"', "a1", "Explore").encode())
    assert (done.returncode, done.stderr) == (0, b"")
    answer = json.loads(done.stdout)["hookSpecificOutput"]
    assert (
        answer["updatedInput"]["command"] == 'WT_SUBAGENT=1 WT_AGENT=Explore wtctl "show progress"'
    )


def test_process_allows_an_ordinary_command_silently(ws: Path) -> None:
    done = subprocess_hook(bash(ws, "pytest -q", agent="a1").encode())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


@pytest.mark.parametrize("raw", [b"", b"{oops", b"\xff\xfe garbage"])
def test_process_never_wedges_on_bad_input(raw: bytes) -> None:
    done = subprocess_hook(raw)
    assert (done.returncode, done.stdout) == (0, b"")
    assert b"warning" in done.stderr


def test_hook_imports_only_the_stdlib_and_the_vocabulary() -> None:
    code = (
        "import sys; before = set(sys.modules); import wtctl.hook as h; "
        "h.phrase_reason('yes'); h._patterns(); "
        "new = set(sys.modules) - before; "
        "print(sorted({m.split('.')[0] for m in new} - {'wtctl', 'wtd', 'json', '_json'}), "
        "sorted(m for m in new if m.startswith('wtd')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "[] ['wtd', 'wtd.vocabulary']", done.stdout + done.stderr


@pytest.mark.parametrize(
    ("agent_type", "expected"),
    [
        ("Explore", "Explore"),
        ("my-plugin:reviewer", "my-plugin:reviewer"),
        ("user", "subagent-user"),
        ("WTD", "subagent-WTD"),
        ("code reviewer\n", "code reviewer"),
        ("code\nreviewer", "code-reviewer"),
        (" \u200b", "-"),
        ("r" * 80, "r" * 64),
    ],
)
def test_the_subagent_name_given_to_wtd_is_one_wtd_accepts(
    ws: Path, hook_run: Run, agent_type: str, expected: str
) -> None:
    # an agent_type wtd refuses as a name (reserved, a control character, over 64
    # characters) went into WT_AGENT as it was: every wtctl call the hook let through
    # then failed with exit 2 ("--agent / WT_AGENT: ...")
    command = allowed_input(hook_run(bash(ws, 'wtctl "show progress"', "a1", agent_type)))[
        "command"
    ]
    words = shlex.split(command)
    assert words[0] == "WT_SUBAGENT=1" and words[1] == f"WT_AGENT={expected}"
    from wtd.enforcement.agents import name_problem

    assert name_problem(expected) is None


def test_the_hooks_copy_of_wtds_agent_name_rules_is_wtds() -> None:
    from wtd.enforcement import agents

    assert hook.AGENT_NAME_MAX == agents.MAX_NAME
    assert hook.RESERVED_AGENT_NAMES == agents.RESERVED_NAMES
    assert hook._UNNAMEABLE == agents._INVISIBLE
