from __future__ import annotations

import errno
import subprocess
import sys
import time

import pytest

from wtd.storage.failpoints import CORRUPT, Failpoints, Rule, corrupted


def test_unset_env_means_disabled() -> None:
    fp = Failpoints.from_env({})
    assert not fp.enabled
    assert fp.hit("store.write") is None
    assert fp.hits("store.write") == 0


def test_parse_reads_every_action_and_count() -> None:
    fp = Failpoints.parse(
        "store.write=2*eagain; render.write=1*enospc;journal.append=crash;"
        "store.read=delay(50);a.b=3+timeout;x=eacces;y=corrupt;"
    )
    assert fp.rules == {
        "store.write": Rule("eagain", times=2),
        "render.write": Rule("enospc", times=1),
        "journal.append": Rule("crash"),
        "store.read": Rule("delay", delay_ms=50.0),
        "a.b": Rule("timeout", skip=3),
        "x": Rule("eacces"),
        "y": Rule("corrupt"),
    }


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("store.write", "store.write"),
        ("store.write=explode", "explode"),
        ("=eagain", "=eagain"),
        ("store.write=delay(x)", "delay"),
        ("store.write=delay", "delay"),
        ("store.write=eagain(3)", "eagain(3)"),
        ("store.write=x*eagain", "x*eagain"),
        ("a=eagain;a=enospc", "set twice"),
        ("bad point=eagain", "bad point"),
    ],
)
def test_parse_error_names_the_bad_part(spec: str, named: str) -> None:
    with pytest.raises(ValueError, match="WT_FAILPOINTS") as info:
        Failpoints.parse(spec)
    assert named in str(info.value)


def test_n_times_fires_on_the_first_n_hits_only() -> None:
    fp = Failpoints.parse("store.write=2*eagain")
    for _ in range(2):
        with pytest.raises(BlockingIOError) as info:
            fp.hit("store.write")
        assert info.value.errno == errno.EAGAIN
    assert fp.hit("store.write") is None
    assert fp.hits("store.write") == 3


def test_skip_lets_the_first_k_hits_pass() -> None:
    fp = Failpoints.parse("p=1+1*enospc")
    assert fp.hit("p") is None
    with pytest.raises(OSError) as info:
        fp.hit("p")
    assert info.value.errno == errno.ENOSPC
    assert fp.hit("p") is None


def test_errors_have_the_expected_types() -> None:
    fp = Failpoints.parse("a=eacces;b=timeout;c=enospc")
    with pytest.raises(PermissionError):
        fp.hit("a")
    with pytest.raises(TimeoutError):
        fp.hit("b")
    with pytest.raises(OSError, match="failpoint c"):
        fp.hit("c")


def test_unconfigured_point_passes() -> None:
    fp = Failpoints.parse("store.write=eagain")
    assert fp.hit("store.read") is None


def test_corrupt_is_returned_to_the_caller() -> None:
    assert Failpoints.parse("p=corrupt").hit("p") == CORRUPT
    data = b'{"key": "value"}'
    assert corrupted(data).startswith(data[:8])
    assert corrupted(data) != data


def test_delay_sleeps_then_proceeds() -> None:
    fp = Failpoints.parse("p=delay(30)")
    start = time.monotonic()
    assert fp.hit("p") is None
    assert time.monotonic() - start >= 0.025


def test_crash_exits_the_process_with_137() -> None:
    code = "from wtd.storage.failpoints import Failpoints\nFailpoints.parse('p=crash').hit('p')"
    done = subprocess.run([sys.executable, "-c", code + "\nprint('survived')"], capture_output=True)
    assert done.returncode == 137
    assert b"survived" not in done.stdout
