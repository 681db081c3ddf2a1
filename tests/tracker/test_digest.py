"""The content digest: a tree over pieces of the JSON, so that a change re-hashes only
the pieces it touched. What the Encoder computes from its cache, change after
change, is exactly ``checksum`` of the bytes (which is what opening, hand edits,
backups and git's history compute from a file); the pieces are cut where the
definition says; older digests are still told apart and computed."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from itertools import pairwise

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from tests.tracker.test_render_cache import CHANGES, SIZES, Maker, tracker_of
from wtd.tracker import model
from wtd.tracker.model import Tracker, codec
from wtd.tracker.model.codec import PIECE_CUT, PIECE_TASKS, cuts

DIGEST_SIZES = (*SIZES, 767, 768, 769, 1300)


def occurrences(data: bytes) -> list[int]:
    found: list[int] = []
    at = data.find(PIECE_CUT, 1)
    while at >= 0:
        found.append(at)
        at = data.find(PIECE_CUT, at + 1)
    return found


def by_definition(data: bytes) -> str:
    """SHA-256 over the SHA-256 of each piece, cut before every 256th seam."""
    bounds = [0, *occurrences(data)[PIECE_TASKS - 1 :: PIECE_TASKS], len(data)]
    inner = b"".join(hashlib.sha256(data[a:b]).digest() for a, b in pairwise(bounds))
    return hashlib.sha256(inner).hexdigest()[:48]


def check(encoder: model.Encoder, tracker: Tracker) -> str:
    data = encoder.encode(tracker)
    assert data == model.encode(tracker)  # what the cache writes is what a fresh encode does
    found = encoder.digest(data)
    assert found == model.checksum(data) == by_definition(data)
    return found


@given(
    hs.sampled_from(DIGEST_SIZES),
    hs.sampled_from(("grouped", "runs", "interleaved")),
    hs.lists(hs.sampled_from(CHANGES), min_size=1, max_size=10),
    hs.integers(0, 2**32),
    hs.integers(1, 3),
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_encoders_digest_is_the_digest_of_its_bytes_change_after_change(
    size: int,
    layout: str,
    changes: list[Callable[[Tracker, Maker], Tracker]],
    seed: int,
    every: int,
) -> None:
    """``every``: changes applied between two encodings (a group commit's batch)."""
    maker = Maker(random.Random(seed))
    tracker = tracker_of(maker, size, layout)
    encoder = model.Encoder()
    seen = {model.encode(tracker): check(encoder, tracker)}
    for k, change in enumerate(changes):
        tracker = change(tracker, maker)
        if k % every:
            continue
        data = model.encode(tracker)
        digest = check(encoder, tracker)
        # different bytes, different digests (and the same bytes, the same digest)
        assert seen.setdefault(data, digest) == digest
        assert len(set(seen.values())) == len(seen)


def test_a_change_to_one_task_of_a_big_tracker_rehashes_one_piece_and_the_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    maker = Maker(random.Random(7))
    tracker = tracker_of(maker, 5000, "grouped")
    encoder = model.Encoder()
    check(encoder, tracker)
    assert encoder.knows_pieces()
    tasks = list(tracker.tasks)
    tasks[2600] = msgspec.structs.replace(tasks[2600], status="complete", name="Changed")
    changed = msgspec.structs.replace(tracker, tasks=tuple(tasks))
    data = encoder.encode(changed)
    hashed: list[int] = []
    real = hashlib.sha256

    class Counting:
        def __init__(self, data: bytes | memoryview = b"") -> None:
            hashed.append(len(data))
            self.h = real(data)

        def update(self, data: bytes | memoryview) -> None:
            hashed.append(len(data))
            self.h.update(data)

        def digest(self) -> bytes:
            return self.h.digest()

        def hexdigest(self) -> str:
            return self.h.hexdigest()

    monkeypatch.setattr(codec, "_sha256", Counting)
    found = encoder.digest(data)
    monkeypatch.undo()
    assert found == model.checksum(data)
    # the first piece (the head and the first chunk), the changed chunk, the last
    # chunk and the end of the document; the tree over ~20 digests — not 1 MB
    assert sum(hashed) < 4 * len(data) // 19, (sum(hashed), len(data))


@given(hs.lists(hs.sampled_from([b"x", b"\n", PIECE_CUT, b"    }", b'"id": "']), max_size=900))
@settings(max_examples=200, deadline=None)
def test_cuts_fall_before_every_256th_seam(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert cuts(data) == occurrences(data)[PIECE_TASKS - 1 :: PIECE_TASKS]
    assert model.checksum(data) == by_definition(data)


def test_cuts_find_their_way_through_pieces_of_very_different_lengths() -> None:
    rng = random.Random(3)
    runs = [b"y" * rng.choice((0, 1, 50, 5000, 100_000)) + PIECE_CUT for _ in range(3000)]
    data = b"{" + b"".join(runs)
    assert cuts(data) == occurrences(data)[PIECE_TASKS - 1 :: PIECE_TASKS]


def test_the_three_formats_are_told_apart_by_their_length() -> None:
    data = model.encode(tracker_of(Maker(random.Random(1)), 300, "grouped"))
    tree, sha, legacy = model.checksum(data), model.sha_checksum(data), model.legacy_checksum(data)
    assert (len(tree), len(sha), len(legacy)) == (48, 40, 32)
    assert sha == hashlib.sha256(data).hexdigest()[:40]
    for digest in (tree, sha, legacy):
        assert model.checksum_as(data, digest) == digest
        assert set(model.other_checksums(data, digest)) == {tree, sha, legacy} - {digest}


def test_what_splices_changed_is_known_without_comparing_every_item() -> None:
    from wtd.tracker.model.structs import same_run, same_tail, spliced_at
    from wtd.tracker.ops.common import splice

    items = tuple(object() for _ in range(1000))
    t1 = splice(items, 700, object())
    t2 = splice(t1, 300, object())
    t3 = splice(t2, 300, t2[300])  # replaced by itself: still counted as a place
    assert spliced_at(items, t3) == [300, 300, 700]
    assert (same_run(items, 0, t3, 0), same_tail(items, t3)) == (300, 299)
    assert same_run(items, 301, t3, 301) == 399
    # made otherwise (same length, nothing noted): not known, compared item by item
    rebuilt = t3[:500] + t3[500:]
    assert rebuilt is not t3 and spliced_at(items, rebuilt) is None
    assert (same_run(items, 0, rebuilt, 0), same_tail(items, rebuilt)) == (300, 299)
    # more splices than are remembered: compared too
    many = items
    for k in range(20):
        many = splice(many, k, object())
    assert spliced_at(items, many) is None and same_run(items, 0, many, 0) == 0
    assert same_tail(items, many) == 980
