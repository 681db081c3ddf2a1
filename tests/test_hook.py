"""wtctl hook pre-tool-use: realistic Claude Code PreToolUse payloads → exit code + stderr."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wtctl import hook


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / ".ecw" / "plans").mkdir(parents=True)
    (tmp_path / ".ecw" / "plans" / "my-project.json").write_text("{}")
    (tmp_path / "docs" / "plans").mkdir(parents=True)
    (tmp_path / "docs" / "plans" / "my-project.md").write_text("# Work Tracker: x\n")
    (tmp_path / "src").mkdir()
    return tmp_path


def payload(ws: Path, tool: str, tool_input: Any, agent: str | None = None) -> str:
    doc: dict[str, Any] = {
        "session_id": "abc123",
        "transcript_path": str(ws / "transcript.jsonl"),
        "cwd": str(ws),
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
    }
    if agent is not None:
        doc["agent_id"] = agent
    return json.dumps(doc)


def bash(ws: Path, command: str, agent: str | None = None) -> str:
    return payload(ws, "Bash", {"command": command, "description": "run"}, agent)


Run = Callable[[str], tuple[int, str]]  # raw stdin → (exit code, stderr)


@pytest.fixture
def hook_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    def call(raw: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(raw))
        code = hook.main(["pre-tool-use"])
        return code, capsys.readouterr().err

    return call


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
    code, err = hook_run(payload(ws, tool, tool_input))
    assert code == 2
    assert "under .ecw/" in err and 'wtctl "mark task 2.2 complete"' in err


def test_notebook_edit_under_ecw_is_blocked(ws: Path, hook_run: Run) -> None:
    code, _ = hook_run(
        payload(ws, "NotebookEdit", {"notebook_path": ".ecw/x.ipynb", "new_source": ""})
    )
    assert code == 2


def test_write_through_a_symlink_into_ecw_is_blocked(ws: Path, hook_run: Run) -> None:
    (ws / "state").symlink_to(ws / ".ecw")
    code, _ = hook_run(payload(ws, "Write", {"file_path": "state/plans/x.json", "content": ""}))
    assert code == 2


def test_write_creating_a_new_plan_is_blocked(ws: Path, hook_run: Run) -> None:
    code, err = hook_run(payload(ws, "Write", {"file_path": "docs/plans/new.md", "content": "# x"}))
    assert code == 2
    assert "new docs/plans/*.md" in err and "create initiative" in err


def test_write_to_an_existing_plan_is_allowed(ws: Path, hook_run: Run) -> None:
    path = str(ws / "docs" / "plans" / "my-project.md")
    assert hook_run(payload(ws, "Write", {"file_path": path, "content": "# x"})) == (0, "")


@pytest.mark.parametrize(
    "path", ["src/app.py", "docs/notes.md", "docs/plans/sub/new.md", "docs/plans/new.txt", "ecw/x"]
)
def test_ordinary_writes_are_allowed(ws: Path, hook_run: Run, path: str) -> None:
    assert hook_run(payload(ws, "Write", {"file_path": path, "content": ""})) == (0, "")


def test_edit_of_an_existing_plan_is_allowed(ws: Path, hook_run: Run) -> None:
    edit = {"file_path": "docs/plans/my-project.md", "old_string": "x", "new_string": "y"}
    assert hook_run(payload(ws, "Edit", edit)) == (0, "")


def test_relative_paths_resolve_against_the_payload_cwd(ws: Path, hook_run: Run) -> None:
    raw = json.loads(payload(ws, "Write", {"file_path": "../.ecw/plans/a.json", "content": ""}))
    raw["cwd"] = str(ws / "src")
    assert hook_run(json.dumps(raw))[0] == 2
    raw = json.loads(
        payload(ws, "Write", {"file_path": "../docs/plans/my-project.md", "content": ""})
    )
    raw["cwd"] = str(ws / "src")
    assert hook_run(json.dumps(raw))[0] == 0


# ------------------------------------------------------------ Bash writes


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
    ],
)
def test_bash_writing_protected_paths_is_blocked(ws: Path, hook_run: Run, command: str) -> None:
    code, err = hook_run(bash(ws, command))
    assert code == 2, err
    assert err.startswith("Blocked: ")
    assert "wtctl" in err


@pytest.mark.parametrize(
    "command",
    [
        "cat .ecw/plans/my-project.json",
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
    ],
)
def test_bash_reading_or_writing_elsewhere_is_allowed(
    ws: Path, hook_run: Run, command: str
) -> None:
    assert hook_run(bash(ws, command)) == (0, "")


# ------------------------------------------------------------ subagents and wtctl


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ('wtctl "create initiative 20"', "create initiatives"),
        ('wtctl --tracker docs/plans/my-project.md "delete tracker"', "delete trackers"),
        ('wtctl "mark phase 2 complete"', "many tasks"),
        ('wtctl "mark all tasks in phase 2 done"', "many tasks"),
        ("wtctl yes", "consent"),
        ('wtctl "Approved"', "consent"),
        ("wtctl always", "consent"),
        ('wtctl "you may create initiatives as needed"', "consent"),
        ('wtctl --skip-consent "mark task 2.2 complete"', "--skip-consent"),
        ('.venv/bin/python -m wtctl "create initiative 3 called X"', "create initiatives"),
        ("printf 'delete tracker\\n' | wtctl", "delete trackers"),
        ("wtctl <<EOF\nyes\nEOF", "consent"),
        ('WT_SUBAGENT=0 wtctl "show progress"', "WT_SUBAGENT"),
        ('env -u WT_SUBAGENT wtctl "show progress"', "WT_SUBAGENT"),
        ('cd src && wtctl --json "delete tracker"', "delete trackers"),
    ],
)
def test_subagent_restricted_wtctl_is_blocked(
    ws: Path, hook_run: Run, command: str, words: str
) -> None:
    code, err = hook_run(bash(ws, command, agent="agent-7f3a"))
    assert code == 2, err
    assert "subagents may not" in err and words in err
    assert "Ask the main agent or the user" in err


@pytest.mark.parametrize(
    "command",
    [
        'wtctl "mark task 2.2 complete"',
        "wtctl show progress",
        'wtctl --subagent "what\'s next"',
        "wtctl hook pre-tool-use",
        "echo yes",
    ],
)
def test_subagent_ordinary_wtctl_is_allowed(ws: Path, hook_run: Run, command: str) -> None:
    assert hook_run(bash(ws, command, agent="agent-7f3a")) == (0, "")


@pytest.mark.parametrize(
    "command",
    ['wtctl "create initiative 20"', 'wtctl --skip-consent "delete tracker"', "wtctl yes"],
)
def test_main_agent_may_run_guarded_wtctl(ws: Path, hook_run: Run, command: str) -> None:
    assert hook_run(bash(ws, command)) == (0, "")


def test_empty_agent_id_is_not_a_subagent(ws: Path, hook_run: Run) -> None:
    assert hook_run(bash(ws, 'wtctl "delete tracker"', agent=""))[0] == 0


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
    ],
)
def test_bad_input_allows_with_a_warning(hook_run: Run, raw: str) -> None:
    code, err = hook_run(raw)
    assert code == 0
    assert err.startswith("wtctl hook: warning:")


@pytest.mark.parametrize("tool", ["Read", "Grep", "Glob", "WebFetch", "mcp__github__create_issue"])
def test_other_tools_are_allowed_silently(ws: Path, hook_run: Run, tool: str) -> None:
    raw = payload(ws, tool, {"file_path": str(ws / ".ecw" / "plans" / "my-project.json")})
    assert hook_run(raw) == (0, "")


def test_unknown_tool_with_non_object_input_is_allowed_silently(ws: Path, hook_run: Run) -> None:
    assert hook_run(payload(ws, "Task", "do things")) == (0, "")


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
    assert done.returncode == 2
    assert b"subagents may not create initiatives" in done.stderr


def test_process_allows_an_ordinary_command_silently(ws: Path) -> None:
    done = subprocess_hook(bash(ws, "pytest -q").encode())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


@pytest.mark.parametrize("raw", [b"", b"{oops", b"\xff\xfe garbage"])
def test_process_never_wedges_on_bad_input(raw: bytes) -> None:
    done = subprocess_hook(raw)
    assert done.returncode == 0
    assert b"warning" in done.stderr


def test_hook_imports_only_the_stdlib() -> None:
    code = (
        "import sys; before = set(sys.modules); import wtctl.hook; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - {'wtctl', 'json', '_json'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stdout
