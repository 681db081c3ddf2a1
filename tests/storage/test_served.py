"""The list of served workspaces a wtd checks when it starts (SPEC §6)."""

from __future__ import annotations

from pathlib import Path

from wtd.storage.served import LIMIT, Served, served_file


def test_the_default_socket_keeps_its_list_in_the_state_folder(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "XDG_STATE_HOME": str(tmp_path / "state")}
    where = served_file(tmp_path / "run" / "wtd" / "wtd.sock", env)
    assert where.parent == tmp_path / "state" / "wtd"  # outlives a reboot
    assert where.name.startswith("served-")


def test_a_socket_named_explicitly_keeps_its_list_beside_it(tmp_path: Path) -> None:
    sock = tmp_path / "mine" / "wtd.sock"
    env = {"WTD_SOCKET": str(sock), "XDG_STATE_HOME": str(tmp_path / "state")}
    assert served_file(sock, env) == tmp_path / "mine" / "served"


def test_the_list_remembers_each_workspace_once_newest_last_and_at_most_limit(
    tmp_path: Path,
) -> None:
    served = Served(tmp_path / "state" / "served")
    assert served.load() == []
    for n in range(LIMIT + 5):
        served.add(tmp_path / f"ws{n}")
    served.add(tmp_path / "ws10")  # served again: now the newest
    listed = served.load()
    assert len(listed) == LIMIT
    assert listed[-1] == tmp_path / "ws10" and listed.count(tmp_path / "ws10") == 1
    assert tmp_path / "ws0" not in listed  # the oldest went first
    served.drop(tmp_path / "ws10")
    assert tmp_path / "ws10" not in Served(served.path).load()


def test_an_unwritable_list_is_no_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    served = Served(blocker / "served")  # its folder cannot be made
    served.add(tmp_path / "ws")
    assert served.load() == []
