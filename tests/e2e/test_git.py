"""End to end: a team shares a tracker through git (SPEC §11), with real git.

A bare remote and clones of it in a temporary folder; ``wtctl git setup`` in each;
trackers edited as wtd writes them (the JSON in wtd's encoding, the view rendered from
it), then pushed and pulled. No daemon: git runs the merge drivers itself. git never
reads the machine's config (``GIT_CONFIG_GLOBAL=/dev/null``, no system config); each
repository has its own user and default branch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BIN, EXAMPLE
from tests.tracker.test_encoder import VALIDATOR
from wtctl.git import driver_missing, register
from wtd.tracker import commands as c
from wtd.tracker import model, ops, render

pytestmark = pytest.mark.e2e

NAME = "my-project"
JSON = f".ecw/plans/{NAME}.json"
VIEW = f"docs/plans/{NAME}.md"
AT = "2026-12-01T12:00:00Z"


def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(home),
        LC_ALL="C",
        GIT_CEILING_DIRECTORIES=str(home),
    )
    for key in ("WT_TRACKER", "WTD_SOCKET", "WT_AGENT", "WT_SUBAGENT"):
        env.pop(key, None)
    return env


class Clone:
    """A working tree of the team's repository, with its own user."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            argv, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=120
        )
        if check:
            assert done.returncode == 0, f"{argv} → {done.returncode}\n{done.stdout}{done.stderr}"
        return done

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, check=check)

    def wtctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "wtctl"), *args, check=check)

    def load(self) -> model.Tracker:
        return model.decode((self.path / JSON).read_bytes())

    def save(self, tracker: model.Tracker) -> None:
        """Both files as wtd writes them."""
        data = model.encode(model.with_derived_progress(tracker))
        (self.path / JSON).parent.mkdir(parents=True, exist_ok=True)
        (self.path / VIEW).parent.mkdir(parents=True, exist_ok=True)
        (self.path / JSON).write_bytes(data)
        view = render.render(model.decode(data), name=NAME, checksum=model.checksum(data))
        (self.path / VIEW).write_text(view)

    def change(self, *changes: c.Change, message: str = "tracker") -> None:
        tracker = self.load()
        for change in changes:
            tracker = ops.apply(tracker, change, at=AT, actor="tester").tracker
        self.save(tracker)
        self.git("commit", "-qam", message)

    def status(self) -> str:
        return self.git("status", "--porcelain").stdout

    def assert_consistent(self) -> model.Tracker:
        """The JSON is a valid tracker and the view is exactly its rendering."""
        data = (self.path / JSON).read_bytes()
        errors = sorted(VALIDATOR.iter_errors(json.loads(data)), key=str)
        assert not errors, [e.message for e in errors[:3]]
        tracker = model.decode(data)
        view = render.render(tracker, name=NAME, checksum=model.checksum(data))
        assert (self.path / VIEW).read_text() == view
        return tracker


class Team:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = git_env(root)
        self.remote = root / "remote.git"
        subprocess.run(
            ["git", "-c", "init.defaultBranch=main", "init", "-q", "--bare", str(self.remote)],
            env=self.env,
            check=True,
        )

    def clone(self, name: str, *, setup: bool = True) -> Clone:
        subprocess.run(
            ["git", "clone", "-q", str(self.remote), name],
            cwd=self.root,
            env=self.env,
            check=True,
            capture_output=True,
        )
        clone = Clone(self.root / name, self.env)
        clone.git("config", "user.name", name)
        clone.git("config", "user.email", f"{name}@example.com")
        clone.git("config", "init.defaultBranch", "main")
        clone.git("config", "pull.rebase", "false")
        if setup:
            clone.wtctl("git", "setup")
        return clone


def task(tracker: model.Tracker, task_id: str) -> model.Task:
    found = tracker.task(task_id)
    assert found is not None, task_id
    return found


def status(task_id: str, value: str) -> c.SetTaskStatus:
    return c.SetTaskStatus(task_id=task_id, status=value, given=value)


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return Team(tmp_path)


@pytest.fixture
def alice_and_bob(team: Team) -> tuple[Clone, Clone]:
    """Alice starts the tracker (set up, committed, pushed); Bob clones and sets up."""
    alice = team.clone("alice")
    alice.git("symbolic-ref", "HEAD", "refs/heads/main")  # whatever git's default
    alice.save(model.decode(EXAMPLE.read_bytes()))
    alice.git("add", "-A")
    alice.git("commit", "-qm", "the tracker, shared")
    alice.git("push", "-q", "-u", "origin", "main")
    bob = team.clone("bob")
    return alice, bob


# ------------------------------------------------------------------ merges


@pytest.mark.parametrize("pull", [["--no-rebase"], ["--rebase"]], ids=["merge", "rebase"])
def test_edits_to_different_tasks_merge_cleanly_on_pull(
    alice_and_bob: tuple[Clone, Clone], pull: list[str]
) -> None:
    alice, bob = alice_and_bob
    alice.change(status("2.3", "complete"), c.RenameTask(task_id="1.1", name="Repository"))
    alice.git("push", "-q")
    bob.change(status("3.1", "in_progress"), c.SetVerification(task_id="2.3", text="under 100 ms"))
    bob.git("pull", "-q", *pull)
    assert bob.status() == ""
    merged = bob.assert_consistent()
    assert task(merged, "2.3").status == "complete"
    assert task(merged, "2.3").verification == "under 100 ms"
    assert task(merged, "1.1").name == "Repository"
    assert task(merged, "3.1").status == "in_progress"
    assert model.stale_progress(merged) is None
    assert (bob.path / JSON).read_bytes() == model.encode(merged)


def test_a_phase_completed_on_one_side_and_given_a_task_on_the_other_is_not_complete(
    alice_and_bob: tuple[Clone, Clone],
) -> None:
    """Alice adds a task to phase 3 while Bob completes its last open tasks: the merged
    phase has an open task, so it is not "Complete" at 67%."""
    alice, bob = alice_and_bob
    alice.change(c.AddTask(phase=3, name="Announce the release"))
    alice.git("push", "-q")
    bob.change(status("3.1", "complete"), status("3.2", "complete"))
    assert bob.load().phase(3).status == "complete"  # type: ignore[union-attr]
    bob.git("pull", "-q")
    assert bob.status() == ""
    merged = bob.assert_consistent()
    phase = merged.phase(3)
    assert phase is not None and phase.progress == 67
    assert phase.status == "in_progress"
    # a status set by hand over the very tasks it has stays as set
    blocked = c.SetPhaseStatus(number=1, status="blocked", given="blocked")
    alice.git("pull", "-q")
    alice.change(blocked)
    alice.git("push", "-q")
    bob.change(c.RenameTask(task_id="1.1", name="Repository"))
    bob.git("pull", "-q")
    assert bob.assert_consistent().phase(1).status == "blocked"  # type: ignore[union-attr]


def test_a_task_added_on_both_sides_keeps_both_and_renumbers_the_incoming_one(
    alice_and_bob: tuple[Clone, Clone],
) -> None:
    alice, bob = alice_and_bob
    alice.change(c.AddTask(phase=3, name="Announce the release"))
    alice.git("push", "-q")
    bob.change(c.AddTask(phase=3, name="Write the changelog"))
    pulled = bob.git("pull", "-q")
    assert "task 3.4 added on both sides: theirs renumbered 3.5" in pulled.stderr
    merged = bob.assert_consistent()
    assert [(t.id, t.title) for t in merged.tasks if t.phase == 3][-2:] == [
        ("3.4", "Write the changelog"),
        ("3.5", "Announce the release"),
    ]
    bob.git("push", "-q")
    alice.git("pull", "-q")  # a fast-forward: the same files for Alice
    assert alice.assert_consistent() == merged


def test_the_same_field_changed_both_ways_is_a_conflict_that_leaves_valid_json(
    alice_and_bob: tuple[Clone, Clone],
) -> None:
    alice, bob = alice_and_bob
    alice.change(status("2.3", "complete"), status("3.1", "complete"))
    alice.git("push", "-q")
    bob.change(status("2.3", "blocked"), c.RenameTask(task_id="1.1", name="Repository"))
    pulled = bob.git("pull", check=False)
    assert pulled.returncode != 0
    assert f"CONFLICT (content): Merge conflict in {JSON}" in pulled.stdout
    assert 'task 2.3 status: ours "blocked", theirs "complete": ours kept' in pulled.stderr
    assert sorted(bob.status().splitlines()) == [f"UU {JSON}", f"UU {VIEW}"]
    text = (bob.path / JSON).read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    merged = bob.assert_consistent()  # ours, and everything that merged cleanly
    assert task(merged, "2.3").status == "blocked"
    assert task(merged, "3.1").status == "complete"
    assert task(merged, "1.1").name == "Repository"

    # Resolve by taking theirs, as the README says.
    bob.git("checkout", "--theirs", JSON, VIEW)
    assert "up to date" in bob.wtctl("git", "render").stdout
    bob.git("add", JSON, VIEW)
    bob.git("commit", "-q", "--no-edit")
    assert bob.status() == ""
    assert task(bob.assert_consistent(), "2.3").status == "complete"


def test_a_conflict_resolved_by_editing_the_json_is_finished_by_render(
    alice_and_bob: tuple[Clone, Clone],
) -> None:
    alice, bob = alice_and_bob
    alice.change(status("2.3", "complete"))
    alice.git("push", "-q")
    bob.change(status("2.3", "blocked"))
    assert bob.git("pull", check=False).returncode != 0
    raw: dict[str, Any] = json.loads((bob.path / JSON).read_bytes())
    for item in raw["tasks"]:
        if item["id"] == "2.3":
            item["status"] = "in_progress"
    (bob.path / JSON).write_text(json.dumps(raw, indent=2))
    rendered = bob.wtctl("git", "render", NAME)
    assert f"rendered {VIEW} from {JSON}" in rendered.stdout
    bob.git("add", JSON, VIEW)
    bob.git("commit", "-q", "--no-edit")
    assert task(bob.assert_consistent(), "2.3").status == "in_progress"


def test_a_view_edited_by_hand_is_left_to_git_and_render_rebuilds_it(
    alice_and_bob: tuple[Clone, Clone],
) -> None:
    alice, bob = alice_and_bob
    alice.change(status("2.3", "complete"))
    alice.git("push", "-q")
    bob.change(status("3.1", "complete"))
    with (bob.path / VIEW).open("a") as view:
        view.write("a line typed into the view\n")
    bob.git("commit", "-qam", "a hand edit of the view")
    pulled = bob.git("pull", check=False)
    assert pulled.returncode != 0
    assert "our view is not the rendering of its JSON" in pulled.stderr
    assert bob.status().splitlines() == [f"M  {JSON}", f"UU {VIEW}"]  # the JSON merged
    bob.wtctl("git", "render")
    bob.git("add", VIEW)
    bob.git("commit", "-q", "--no-edit")
    merged = bob.assert_consistent()
    assert (task(merged, "2.3").status, task(merged, "3.1").status) == ("complete", "complete")


def test_a_side_that_is_not_a_tracker_is_left_to_git_untouched(tmp_path: Path) -> None:
    base, ours, theirs = (tmp_path / n for n in ("base", "ours", "theirs"))
    base.write_bytes(EXAMPLE.read_bytes())
    ours.write_bytes(EXAMPLE.read_bytes().replace(b'"pending"', b'"complete"', 1))
    theirs.write_text("<<<<<<< not json\n")
    before = ours.read_bytes()
    done = subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "wtctl",
            "git",
            "merge-json",
            str(base),
            str(ours),
            str(theirs),
            JSON,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "theirs is not a tracker" in done.stderr
    assert ours.read_bytes() == before


def test_other_markdown_beside_the_views_merges_as_git_merges_text(
    alice_and_bob: tuple[Clone, Clone],
) -> None:
    # docs/plans/*.md is wtd's view driver's: a README there is no view, and both
    # sides' edits to different lines merge, as they do without the driver
    alice, bob = alice_and_bob
    readme = alice.path / "docs" / "plans" / "README.md"
    readme.write_text("# Plans\n\nOne tracker per initiative.\n\nAsk Alice.\n")
    alice.git("add", "-A")
    alice.git("commit", "-qm", "readme")
    alice.git("push", "-q")
    bob.git("pull", "-q")
    text = (alice.path / "docs" / "plans" / "README.md").read_text()
    (alice.path / "docs" / "plans" / "README.md").write_text(text.replace("# Plans", "# Our plans"))
    alice.git("commit", "-qam", "title")
    alice.git("push", "-q")
    bob_readme = bob.path / "docs" / "plans" / "README.md"
    bob_readme.write_text(bob_readme.read_text().replace("Ask Alice.", "Ask Bob."))
    bob.git("commit", "-qam", "contact")
    bob.git("pull", "-q", "--no-rebase")
    assert bob.status() == ""
    assert bob_readme.read_text() == "# Our plans\n\nOne tracker per initiative.\n\nAsk Bob.\n"
    bob.git("push", "-q")
    # the same line both ways: git's conflict markers, as without the driver
    bob_readme.write_text(bob_readme.read_text().replace("Ask Bob.", "Ask Carol."))
    bob.git("commit", "-qam", "carol")
    alice.git("pull", "-q", "--no-rebase")
    alice_readme = alice.path / "docs" / "plans" / "README.md"
    alice_readme.write_text(alice_readme.read_text().replace("Ask Bob.", "Ask Dan."))
    alice.git("commit", "-qam", "dan")
    alice.git("push", "-q")
    pulled = bob.git("pull", "-q", "--no-rebase", check=False)
    assert pulled.returncode != 0
    merged = bob_readme.read_text()
    assert "<<<<<<<" in merged and "Ask Carol." in merged and "Ask Dan." in merged


# ------------------------------------------------------------------ setup and check


def test_setup_outside_a_repository_says_so_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    done = Clone(folder, git_env(tmp_path)).wtctl("git", "setup", check=False)
    assert done.returncode == 1
    assert "not inside a git working tree" in done.stderr
    assert list(folder.iterdir()) == []


def test_a_monorepos_nested_workspaces_merge_with_the_drivers_and_stay_ignored(
    team: Team,
) -> None:
    # setup wrote patterns anchored at the top folder: a package's tracker below it was
    # merged line by line, its journal showed as untracked, and `git check` said ready
    clone = team.clone("alice", setup=False)
    nested = clone.path / "pkg" / "api"
    (nested / ".ecw" / "plans").mkdir(parents=True)
    (nested / ".ecw" / "plans" / "q.json").write_bytes(EXAMPLE.read_bytes())
    (clone.path / ".gitattributes").write_text(".ecw/plans/*.json merge=wtd-json\n")
    clone.git("add", "-A")
    clone.git("commit", "-qm", "a package's tracker")
    told = clone.wtctl("git", "check", check=False)
    assert told.returncode == 1 and "pkg/api/.ecw/plans/q.json" in told.stderr, told.stderr
    clone.wtctl("git", "setup")
    q = "pkg/api/.ecw/plans/q.json"
    view = "pkg/api/docs/plans/q.md"
    attributes = clone.git("check-attr", "merge", "--", q, view).stdout.splitlines()
    assert attributes == [f"{q}: merge: wtd-json", f"{view}: merge: wtd-view"]
    ignored = clone.git("check-ignore", "pkg/api/.ecw/journal/q.wal", "pkg/api/.ecw/wtd.lock")
    assert ignored.stdout.split() == ["pkg/api/.ecw/journal/q.wal", "pkg/api/.ecw/wtd.lock"]
    assert clone.wtctl("git", "check").returncode == 0


def test_setup_twice_changes_nothing_the_second_time(team: Team) -> None:
    clone = team.clone("alice", setup=False)
    (clone.path / ".gitignore").write_text("node_modules/\n.ecw/journal/")  # no final newline
    first = clone.wtctl("git", "setup").stdout
    assert "added to .gitattributes: **/.ecw/plans/*.json merge=wtd-json" in first
    assert "merge.wtd-json.driver" in first

    def state() -> tuple[bytes, bytes, str]:
        config = clone.git("config", "--local", "--list").stdout
        return (
            (clone.path / ".gitattributes").read_bytes(),
            (clone.path / ".gitignore").read_bytes(),
            config,
        )

    before = state()
    assert before[1].startswith(b"node_modules/\n.ecw/journal/\n")  # the user's, kept
    assert before[1].splitlines().count(b"**/.ecw/journal/") == 1
    assert "already set up, nothing changed" in clone.wtctl("git", "setup").stdout
    assert state() == before
    ignored = clone.git("check-ignore", ".ecw/journal/x.wal", ".ecw/consent-state.json").stdout
    assert ignored.split() == [".ecw/journal/x.wal", ".ecw/consent-state.json"]
    assert clone.git("check-ignore", JSON, check=False).returncode == 1
    attributes = clone.git("check-attr", "merge", "linguist-generated", "--", JSON, VIEW).stdout
    assert attributes.splitlines() == [
        f"{JSON}: merge: wtd-json",
        f"{JSON}: linguist-generated: unspecified",
        f"{VIEW}: merge: wtd-view",
        f"{VIEW}: linguist-generated: true",
    ]


def test_a_clone_with_the_attributes_but_not_the_drivers_is_found_out(
    alice_and_bob: tuple[Clone, Clone], team: Team
) -> None:
    carol = team.clone("carol", setup=False)
    checked = carol.wtctl("git", "check", check=False)
    assert checked.returncode == 1
    assert "names the merge driver wtd-json but this clone's config lacks it" in checked.stderr
    assert "run `wtctl git setup`" in checked.stderr
    assert "git config merge.wtd-json.driver '" in checked.stderr
    assert driver_missing(carol.path)
    assert register(carol.path)  # what the daemon may do: it said what it registered
    assert not driver_missing(carol.path)
    assert carol.wtctl("git", "check").returncode == 0
    assert register(carol.path) == []


def test_a_repository_that_does_not_use_the_drivers_is_not_missing_them(team: Team) -> None:
    clone = team.clone("dave", setup=False)
    assert not driver_missing(clone.path)
    checked = clone.wtctl("git", "check", check=False)
    assert checked.returncode == 1
    assert "run `wtctl git setup`" in checked.stderr


def test_a_driver_registered_for_a_python_that_is_gone_is_found_out(
    alice_and_bob: tuple[Clone, Clone],
) -> None:
    _, bob = alice_and_bob
    bob.git(
        "config", "merge.wtd-json.driver", "/nowhere/python -P -m wtctl git merge-json %O %A %B %P"
    )
    assert driver_missing(bob.path)
    assert "which is gone" in bob.wtctl("git", "check", check=False).stderr
    bob.wtctl("git", "setup")
    assert not driver_missing(bob.path)


def test_the_driver_runs_without_the_venv_on_path(alice_and_bob: tuple[Clone, Clone]) -> None:
    alice, bob = alice_and_bob
    bob.env = {
        **bob.env,
        "PATH": os.pathsep.join(p for p in ("/usr/bin", "/bin") if os.path.isdir(p)),
    }
    if shutil.which("git", path=bob.env["PATH"]) is None:
        pytest.skip("git is not in /usr/bin or /bin")
    # Neighbouring lines of one task: git alone would report a conflict.
    alice.change(status("2.3", "complete"))
    alice.git("push", "-q")
    bob.change(c.RenameTask(task_id="2.3", name="Watch every file"))
    bob.git("pull", "-q")
    merged = task(bob.assert_consistent(), "2.3")
    assert (merged.status, merged.name) == ("complete", "Watch every file")


def test_render_never_writes_through_a_symlink(
    alice_and_bob: tuple[Clone, Clone], tmp_path: Path
) -> None:
    _, bob = alice_and_bob
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(bob.path / "docs" / "plans")
    (bob.path / "docs" / "plans").symlink_to(outside)
    done = bob.wtctl("git", "render", check=False)
    assert done.returncode == 1
    assert "is a symlink" in done.stderr
    assert list(outside.iterdir()) == []
