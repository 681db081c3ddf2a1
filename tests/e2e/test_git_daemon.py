"""A team on git with wtd running (SPEC §11): two clones of one repository, each with
its own wtd (started by wtctl's autostart, as users have it), changing the tracker
through wtctl, committing, pushing and pulling with real git while wtd runs.

After a pull the working tree is clean (wtd wrote back exactly what git put there),
the view is the rendering of the JSON, history says git, nothing went to
``.ecw/conflicts`` or ``.ecw/quarantine``.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, EXAMPLE, Workspace
from tests.e2e.test_git import JSON, VIEW, Clone, Team, git_env

pytestmark = pytest.mark.e2e


class Member:
    """A clone with its own wtd (its own socket): a team member's machine."""

    def __init__(self, clone: Clone, sock_dir: Path) -> None:
        self.clone = clone
        self.sock = sock_dir / "wtd.sock"
        clone.env = {
            **clone.env,
            "WTD_SOCKET": str(self.sock),
            "XDG_CONFIG_HOME": str(sock_dir / "config"),
        }

    def wtctl(self, *args: str) -> str:
        done = self.clone.run(str(BIN / "wtctl"), "--tracker", VIEW, *args)
        return done.stdout

    def stop(self) -> None:
        Workspace(self.clone.path, self.sock.parent).kill_daemon(signal.SIGTERM)

    def quiet(self) -> None:
        """Every change taken over: a request is answered only after the Store looked
        at both files (a hand edit the Watcher had not reported yet is merged first)."""
        self.wtctl("sync")

    def clean_after_git(self) -> None:
        self.quiet()
        assert self.clone.status() == "", self.clone.status()
        self.clone.assert_consistent()
        state = self.clone.path / ".ecw"
        for kept in ("conflicts", "quarantine"):
            folder = state / kept
            assert not folder.exists() or not any(folder.rglob("*")), list(folder.rglob("*"))


@contextmanager
def _running_team(tmp_path: Path, *, setup: bool = True) -> Iterator[tuple[Member, Member]]:
    """Alice shares the tracker, Bob clones it; each with a wtd running. Without
    ``setup``, no `wtctl git setup`: only the tracker's two files are committed."""
    team = Team(tmp_path)
    alice_clone = team.clone("alice", setup=setup)
    alice_clone.git("symbolic-ref", "HEAD", "refs/heads/main")
    (alice_clone.path / JSON).parent.mkdir(parents=True)
    (alice_clone.path / JSON).write_bytes(EXAMPLE.read_bytes())
    members: list[Member] = []
    try:
        alice = Member(alice_clone, Path(tempfile.mkdtemp(prefix="wtd-git-a-", dir="/tmp")))
        members.append(alice)
        alice.wtctl("show progress")  # wtd autostarted: it renders the view
        alice.quiet()
        if setup:
            alice_clone.git("add", "-A")
        else:  # (no .gitignore: the tracker's files only)
            alice_clone.git("add", JSON, VIEW)
        alice_clone.git("commit", "-qm", "the tracker, shared")
        alice_clone.git("push", "-q", "-u", "origin", "main")
        bob_clone = team.clone("bob", setup=setup)
        bob = Member(bob_clone, Path(tempfile.mkdtemp(prefix="wtd-git-b-", dir="/tmp")))
        members.append(bob)
        bob.wtctl("show progress")
        yield alice, bob
    finally:
        for member in members:
            member.stop()


@pytest.fixture
def team_running(tmp_path: Path) -> Iterator[tuple[Member, Member]]:
    with _running_team(tmp_path) as members:
        yield members


def _task(member: Member, task_id: str) -> dict[str, object]:
    found = member.clone.load().task(task_id)
    assert found is not None
    return {"status": found.status, "name": found.name}


def test_a_pull_with_wtd_running_takes_both_sides_and_leaves_a_clean_tree(
    team_running: tuple[Member, Member],
) -> None:
    alice, bob = team_running
    alice.wtctl("mark task 2.3 complete")
    alice.clone.git("commit", "-qam", "alice: 2.3 done")
    alice.clone.git("push", "-q")
    bob.wtctl("rename task 3.1 to Write the release notes")
    bob.clone.git("commit", "-qam", "bob: 3.1 renamed")
    bob.clone.git("pull", "-q", "--no-rebase")
    bob.clean_after_git()
    assert _task(bob, "2.3")["status"] == "complete"
    assert _task(bob, "3.1")["name"] == "Write the release notes"
    history = bob.wtctl("history")
    assert " git " in history and "Took git's version" in history, history
    bob.clone.git("push", "-q")
    alice.clone.git("pull", "-q", "--no-rebase")
    alice.clean_after_git()
    assert _task(alice, "3.1")["name"] == "Write the release notes"


def test_a_checkout_with_wtd_running_is_taken_over_without_conflict_copies(
    team_running: tuple[Member, Member],
) -> None:
    _alice, bob = team_running
    bob.clone.git("checkout", "-q", "-b", "experiment")
    bob.wtctl("add task to phase 3: Try it on a branch")
    bob.clone.git("commit", "-qam", "a task on a branch")
    bob.clone.git("checkout", "-q", "main")
    bob.clean_after_git()
    names = [t.name for t in bob.clone.load().tasks]
    assert "Try it on a branch" not in names
    assert "Try it on a branch" not in bob.wtctl("list tasks")
    bob.clone.git("checkout", "-q", "experiment")
    bob.clean_after_git()
    assert "Try it on a branch" in bob.wtctl("list tasks")


@pytest.mark.parametrize("how", ["checkout", "revert", "reset"])
def test_git_going_back_while_wtd_is_stopped_is_taken_as_it_is_not_replayed_over(
    team_running: tuple[Member, Member], how: str
) -> None:
    _alice, bob = team_running
    bob.clone.git("branch", "before")
    bob.wtctl("add task to phase 3: Only on main")
    bob.wtctl("mark task 2.3 complete")
    bob.clone.git("commit", "-qam", "two changes on main")
    bob.stop()  # a clean stop; the machine rebooted, wtd not started yet
    if how == "checkout":
        bob.clone.git("checkout", "-q", "before")
    elif how == "revert":
        bob.clone.git("revert", "--no-edit", "HEAD")
    else:
        bob.clone.git("reset", "-q", "--hard", "HEAD~1")
    listed = bob.wtctl("list tasks")  # autostarts wtd, which opens the tracker
    assert "Only on main" not in listed, listed
    bob.clean_after_git()  # nothing of main's put back: the working tree is clean
    assert _task(bob, "2.3")["status"] != "complete"
    assert " git " in bob.wtctl("history")
    bob.wtctl("mark task 3.1 complete")  # and it goes on from there
    assert _task(bob, "3.1")["status"] == "complete"
    assert "Only on main" not in [t.name for t in bob.clone.load().tasks]


@pytest.mark.parametrize("then", ["nothing", "touched"])
def test_a_power_cut_back_to_the_committed_json_still_loses_no_acknowledged_change(
    team_running: tuple[Member, Member], then: str
) -> None:
    _alice, bob = team_running
    json_file = bob.clone.path / JSON
    committed = json_file.read_bytes()  # git's version, and wtd's state then
    at = json_file.stat().st_mtime_ns
    bob.wtctl("add task to phase 3: Acknowledged before the cut")
    bob.wtctl("mark task 2.3 complete")
    Workspace(bob.clone.path, bob.sock.parent).kill_daemon(signal.SIGKILL)
    # the cut takes the JSON back to its last durable state: older bytes, older inode
    # times (the journal is what wtd fsyncs before a reply)
    json_file.write_bytes(committed)
    os.utime(json_file, ns=(at, at))
    if then == "touched":  # newer than the journal now, yet no git moved HEAD
        os.utime(json_file)
    listed = bob.wtctl("list tasks")
    assert "Acknowledged before the cut" in listed, listed
    assert _task(bob, "2.3")["status"] == "complete"


def test_a_clone_without_the_drivers_registered_gets_them_when_wtd_serves_it(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path)
    first = team.clone("first")
    first.git("symbolic-ref", "HEAD", "refs/heads/main")
    (first.path / JSON).parent.mkdir(parents=True)
    (first.path / JSON).write_bytes(EXAMPLE.read_bytes())
    first.git("add", "-A")
    first.git("commit", "-qm", "shared, with the attributes")
    first.git("push", "-q", "-u", "origin", "main")
    second = team.clone("second", setup=False)  # a fresh clone: config has no drivers
    assert second.git("config", "--get", "merge.wtd-json.driver", check=False).returncode != 0
    member = Member(second, Path(tempfile.mkdtemp(prefix="wtd-git-c-", dir="/tmp")))
    try:
        member.wtctl("show progress")
        driver = second.git("config", "--get", "merge.wtd-json.driver").stdout
        assert "wtctl git merge-json" in driver
    finally:
        member.stop()


def test_the_same_field_changed_both_ways_is_a_git_conflict_with_wtd_running(
    team_running: tuple[Member, Member],
) -> None:
    alice, bob = team_running
    alice.wtctl("mark task 2.3 complete")
    alice.wtctl("rename task 3.2 to Alice's own change")
    alice.clone.git("commit", "-qam", "alice: 2.3 done")
    alice.clone.git("push", "-q")
    bob.wtctl("mark task 2.3 blocked")
    bob.wtctl("rename task 3.1 to Bob's own change")
    bob.clone.git("commit", "-qam", "bob: 2.3 blocked")
    pulled = bob.clone.git("pull", "--no-rebase", check=False)
    assert pulled.returncode != 0 and "CONFLICT" in pulled.stdout + pulled.stderr
    assert "2.3" in pulled.stderr and "status" in pulled.stderr
    bob.quiet()
    assert "UU .ecw/plans/my-project.json" in bob.clone.status()
    task = _task(bob, "2.3")  # a valid tracker: ours kept, everything else merged
    assert task["status"] == "blocked"
    assert _task(bob, "3.2")["name"] == "Alice's own change"
    last = bob.wtctl("history").splitlines()[-1]
    assert " git " in last and "hand-edit" not in last, last  # git's merge, not a hand edit
    assert _task(bob, "3.1")["name"] == "Bob's own change"
    bob.clone.assert_consistent()
    for kept in ("conflicts", "quarantine"):
        folder = bob.clone.path / ".ecw" / kept
        assert not folder.exists() or not any(folder.rglob("*")), list(folder.rglob("*"))
    bob.clone.git("add", JSON, VIEW)
    bob.clone.git("commit", "-qm", "merged, ours kept")
    bob.clean_after_git()


@pytest.mark.parametrize("running", [True, False], ids=["wtd running", "wtd stopped"])
def test_a_stash_pop_brings_the_stashed_changes_back(
    team_running: tuple[Member, Member], running: bool
) -> None:
    # git stash, then git stash pop: the popped JSON, an older state of wtd's that git
    # put back (not in its index), was taken for the save of an older copy (running)
    # or for a file a crash left behind (stopped): the stashed change was gone
    alice, _bob = team_running
    alice.wtctl("start task 2.3")
    alice.wtctl("rename task 3.1 to Notes for the release")
    alice.clone.git("stash")
    alice.quiet()
    assert _task(alice, "2.3")["status"] == "pending"
    if not running:
        alice.stop()
    alice.clone.git("stash", "pop")
    alice.wtctl("show progress")  # (starts wtd when it was stopped)
    assert _task(alice, "2.3")["status"] == "in_progress"
    assert _task(alice, "3.1")["name"] == "Notes for the release"
    alice.quiet()
    alice.clone.assert_consistent()
    assert _task(alice, "2.3")["status"] == "in_progress"
    for kept in ("conflicts", "quarantine"):
        folder = alice.clone.path / ".ecw" / kept
        assert not folder.exists() or not any(folder.rglob("*")), list(folder.rglob("*"))
    alice.wtctl("mark task 2.3 complete")  # and goes on from there
    assert _task(alice, "2.3")["status"] == "complete"


@pytest.mark.parametrize("running", [True, False], ids=["wtd running", "wtd stopped"])
def test_a_stale_copy_written_back_before_any_git_command_is_not_taken_for_git_s(
    team_running: tuple[Member, Member], running: bool
) -> None:
    # git's index written after a file is not enough: an agent's stale copy of the
    # JSON, then any `git add`, was taken as git's and dropped acknowledged changes
    alice, _bob = team_running
    json_path = alice.clone.path / JSON
    alice.wtctl("rename task 3.2 to Read by the agent")  # (not git's: never committed)
    alice.quiet()
    stale = json_path.read_bytes()
    alice.wtctl("start task 2.3")
    alice.wtctl("rename task 3.1 to Kept after the stale write")
    alice.quiet()
    if not running:
        alice.stop()
    json_path.write_bytes(stale)
    (alice.clone.path / "notes.txt").write_text("unrelated\n")
    alice.clone.git("add", "notes.txt")  # git writes its index just after
    alice.wtctl("show progress")
    alice.quiet()
    assert _task(alice, "2.3")["status"] == "in_progress"
    assert _task(alice, "3.1")["name"] == "Kept after the stale write"
    assert "Took git's version" not in alice.wtctl("history")


def test_git_s_json_in_another_layout_is_written_back_as_git_has_it(
    team_running: tuple[Member, Member],
) -> None:
    # a committed JSON in another layout (hand-formatted, compact) was re-encoded in
    # wtd's after a `git stash`: the tree was dirty and `git stash pop` was refused
    alice, _bob = team_running
    json_path = alice.clone.path / JSON
    compact = json.dumps(json.loads(json_path.read_bytes()), separators=(",", ":"))
    json_path.write_text(compact + "\n")
    alice.wtctl("show progress")  # same content, another layout: nothing to take
    alice.clone.git("commit", "-qam", "the JSON, compact")
    alice.wtctl("complete task 3.1")
    alice.clone.git("stash", "-q")
    alice.wtctl("show progress")
    assert alice.clone.status() == "", alice.clone.status()
    assert json_path.read_text() == compact + "\n"
    alice.clone.git("stash", "pop", "-q")
    alice.wtctl("show progress")
    assert _task(alice, "3.1")["status"] == "complete"


@pytest.mark.parametrize("running", [True, False], ids=["wtd running", "wtd stopped"])
def test_a_committed_copy_written_back_by_an_agent_is_not_taken_for_git_s(
    team_running: tuple[Member, Member], running: bool
) -> None:
    # running: the bytes are git's version (its index holds them) but git did not
    # write them (no index write follows): it was taken for a checkout. Stopped: git
    # wrote its index and stash reflog right after — a `git stash push` of another
    # file, not a pop. Either way acknowledged changes were dropped
    alice, _bob = team_running
    json_path = alice.clone.path / JSON
    (alice.clone.path / "notes.txt").write_text("one\n")
    alice.wtctl("rename task 3.2 to Committed then copied")
    alice.quiet()
    alice.clone.git("add", "-A")
    alice.clone.git("commit", "-qm", "a version the agent copies")
    stale = json_path.read_bytes()
    alice.wtctl("start task 2.3")
    alice.wtctl("rename task 3.1 to Kept after the stale write")
    alice.quiet()
    if not running:
        alice.stop()
    json_path.write_bytes(stale)
    if not running:
        (alice.clone.path / "notes.txt").write_text("two\n")
        alice.clone.git("stash", "push", "-q", "--", "notes.txt")
    alice.wtctl("show progress")
    alice.quiet()
    assert _task(alice, "2.3")["status"] == "in_progress"
    assert _task(alice, "3.1")["name"] == "Kept after the stale write"


def test_a_merge_stopped_on_markers_in_the_json_is_left_for_the_user_to_resolve(
    tmp_path: Path,
) -> None:
    # without `wtctl git setup` git merges the JSON line by line and leaves markers:
    # wtd took them for damage, quarantined the file and wrote its own state over it,
    # so `git add` then committed ours and the other side's changes were gone
    with _running_team(tmp_path, setup=False) as (alice, bob):
        alice.wtctl("mark task 2.3 complete")
        alice.clone.git("commit", "-qam", "alice: 2.3 done")
        alice.clone.git("push", "-q")
        bob.wtctl("mark task 2.3 blocked")
        bob.clone.git("commit", "-qam", "bob: 2.3 blocked")
        pulled = bob.clone.git("pull", "--no-rebase", check=False)
        assert pulled.returncode != 0 and "CONFLICT" in pulled.stdout + pulled.stderr
        merged = (bob.clone.path / JSON).read_bytes()
        assert b"<<<<<<<" in merged
        shown = bob.clone.run(str(BIN / "wtctl"), "--tracker", VIEW, "show progress")
        assert "conflict markers" in shown.stdout + shown.stderr  # told, not repaired
        refused = bob.clone.run(
            str(BIN / "wtctl"), "--tracker", VIEW, "mark task 3.1 complete", check=False
        )
        assert refused.returncode == 5 and "resolve" in refused.stderr, refused.stderr
        synced = bob.clone.run(str(BIN / "wtctl"), "--tracker", VIEW, "sync", check=False)
        assert synced.returncode == 5, synced.stdout + synced.stderr
        assert (bob.clone.path / JSON).read_bytes() == merged  # git's file, markers and all
        bob.stop()  # and a wtd started meanwhile opens nothing over it either
        reopened = bob.clone.run(
            str(BIN / "wtctl"), "--tracker", VIEW, "show progress", check=False
        )
        assert reopened.returncode == 5 and "resolve" in reopened.stderr, reopened.stderr
        assert (bob.clone.path / JSON).read_bytes() == merged
        assert "UU .ecw/plans/my-project.json" in bob.clone.status()
        quarantine = bob.clone.path / ".ecw" / "quarantine"
        assert not quarantine.exists() or not any(quarantine.rglob("*"))
        bob.clone.git("checkout", "--theirs", JSON)  # resolved: alice's side
        bob.clone.git("add", JSON)
        bob.wtctl("show progress")  # wtd takes the resolved JSON and renders its view
        bob.clone.git("add", VIEW)
        bob.clone.git("commit", "-qm", "merged, theirs taken")
        bob.clone.assert_consistent()
        bob.wtctl("mark task 3.1 complete")  # served again, on the resolved file
        assert _task(bob, "2.3")["status"] == "complete"
        assert _task(bob, "3.1")["status"] == "complete"


@pytest.mark.parametrize("stamped", [-60, +60], ids=["a minute ago", "a minute ahead"])
def test_an_index_lock_left_by_a_git_that_stopped_is_told_and_not_waited_for_again(
    tmp_path: Path, stamped: int
) -> None:
    ws = Workspace(tmp_path / "project", tmp_path / "run")
    (tmp_path / "run").mkdir()
    ws.json.parent.mkdir(parents=True)
    ws.json.write_bytes(EXAMPLE.read_bytes())
    Clone(ws.root, {**git_env(tmp_path), **ws.env}).git("init", "-q")
    ws.ok("show progress")
    lock = ws.root / ".git" / "index.lock"
    lock.write_bytes(b"")
    when = time.time_ns() + stamped * 10**9  # ahead: a network file system's clock
    os.utime(lock, ns=(when, when))
    first = ws.ok("mark task 2.2 complete")
    assert "index.lock has been there since" in first and "rm " in first, first
    second = ws.ok("mark task 2.3 complete")
    assert "index.lock" not in second  # told once
    assert ws.log().count("has been there since") == 1  # and not waited for again
    assert ws.task("2.3")["status"] == "complete"
    ws.kill_daemon(signal.SIGTERM)


def test_git_writing_again_while_wtd_takes_its_last_version_is_never_written_over(
    tmp_path: Path,
) -> None:
    """Two git runs in a row (a checkout, then a fast-forward): the second lands while
    wtd is still writing back the first's JSON (slowed down here by a failpoint). git's
    newer file is taken, never replaced by the older one and kept in quarantine."""
    team = Team(tmp_path)
    clone = team.clone("alice")
    clone.git("symbolic-ref", "HEAD", "refs/heads/main")
    (clone.path / JSON).parent.mkdir(parents=True)
    (clone.path / JSON).write_bytes(EXAMPLE.read_bytes())
    clone.env = {**clone.env, "WT_FAILPOINTS": "store.write=delay(400)"}
    alice = Member(clone, Path(tempfile.mkdtemp(prefix="wtd-git-a-", dir="/tmp")))
    try:
        alice.wtctl("show progress")
        alice.quiet()
        clone.git("add", "-A")
        clone.git("commit", "-qm", "the tracker, shared")
        clone.git("checkout", "-q", "-b", "side")
        alice.wtctl("mark task 2.3 complete")
        alice.wtctl("add task to phase 2: Done on a branch")
        clone.git("commit", "-qam", "side work")
        clone.git("checkout", "-q", "main")
        time.sleep(0.2)  # wtd has read main's JSON and is writing it back
        clone.git("merge", "-q", "--ff-only", "side")
        alice.clean_after_git()
        assert _task(alice, "2.3")["status"] == "complete"
        assert _task(alice, "2.5")["name"] == "Done on a branch"
        assert "Done on a branch" in alice.wtctl("list tasks")
    finally:
        alice.stop()
