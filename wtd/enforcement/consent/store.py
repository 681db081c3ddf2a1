"""The persisted half of consent: the state file (re-read when it changes on disk,
a corrupt one kept aside) and the append-only audit log.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import msgspec

from wtd.enforcement.consent.values import AuditEntry, ConsentState
from wtd.errors import StorageFailure, WtdError
from wtd.storage import safepath
from wtd.storage.atomic import atomic_write, make_dirs
from wtd.storage.safepath import UnsafePath
from wtd.vocabulary import GUARDED_KINDS

# The name the whole of consent has always logged under.
log = logging.getLogger("wtd.enforcement.consent")

_state_decoder: Final = msgspec.json.Decoder(ConsentState)
_encoder: Final = msgspec.json.Encoder()


class ConsentFiles:
    """``consent-state.json`` and ``audit.log`` of one workspace.

    ``state`` is the state in force (mutate it, then ``save``); ``refresh`` re-reads the
    file when it changed on disk. A missing file means "nothing approved"; a corrupt
    one is renamed to ``consent-state.json.corrupt-<stamp>`` (``recovered_from``), the
    state starts fresh, and the reset is logged and audited. ``now`` is the clock.
    """

    def __init__(self, state_path: Path, audit_path: Path, now: Callable[[], datetime]) -> None:
        self.state_path = state_path
        self.audit_path = audit_path
        self._now = now
        self._seen: tuple[int, int, int] | None = None
        self.recovered_from: Path | None = None
        self.state = self._load()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.state_path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self) -> None:
        """Re-read the state file if it changed on disk since it was read or written."""
        if self._signature() != self._seen:
            self.state = self._load()

    def _fresh(self) -> ConsentState:
        return ConsentState(session_id=secrets.token_hex(16), last_updated=self._now().isoformat())

    def _load(self) -> ConsentState:
        self._seen = self._signature()
        try:
            raw = safepath.read_bytes(self.state_path, 1 << 20)
        except FileNotFoundError:
            return self._fresh()
        except (OSError, WtdError) as exc:
            log.warning(
                "consent state %s unreadable (%s); nothing is approved", self.state_path, exc
            )
            return self._fresh()
        try:
            state = _state_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            kept = self._keep_corrupt()
            log.warning("consent state %s is corrupt (%s); kept as %s", self.state_path, exc, kept)
            fresh = self._fresh()
            self.append(
                AuditEntry(
                    ts=self._now().isoformat(),
                    operation="consent-state",
                    decision="state_reset",
                    reason=f"corrupt state file kept as {kept.name}",
                    session_id=fresh.session_id,
                )
            )
            return fresh
        if not state.session_id:
            state.session_id = secrets.token_hex(16)
        state.approved_initiatives = sorted(set(state.approved_initiatives))
        unknown = sorted(set(state.standing_approvals) - set(GUARDED_KINDS))
        for kind in unknown:  # a hand edit or a newer wtd: approve nothing by accident
            log.warning(
                "consent state %s: unknown standing approval %r ignored", self.state_path, kind
            )
            del state.standing_approvals[kind]
        return state

    def _keep_corrupt(self) -> Path:
        stamp = self._now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = self.state_path.with_name(f"{self.state_path.name}.corrupt-{stamp}")
        n = 1
        while kept.exists():
            kept = self.state_path.with_name(f"{self.state_path.name}.corrupt-{stamp}-{n}")
            n += 1
        safepath.check(self.state_path)
        os.replace(self.state_path, kept)
        self.recovered_from = kept
        self._seen = None
        return kept

    def save(self) -> None:
        """Write ``state`` (stamped ``last_updated``) atomically; StorageFailure if not."""
        self.state.last_updated = self._now().isoformat()
        data = msgspec.json.format(_encoder.encode(self.state), indent=2) + b"\n"
        try:
            atomic_write(self.state_path, data)
        except (OSError, UnsafePath) as exc:
            raise StorageFailure(f"Could not save consent state {self.state_path}: {exc}") from exc
        self._seen = self._signature()

    def append(self, entry: AuditEntry) -> None:
        """Append ``entry`` to the audit log as one line; StorageFailure if not."""
        line = _encoder.encode(entry) + b"\n"
        try:
            make_dirs(self.audit_path.parent)
            # one write with O_APPEND: lines never interleave; never through a symlink
            safepath.append_line(self.audit_path, line)
        except (OSError, UnsafePath) as exc:
            raise StorageFailure(f"Could not write audit log {self.audit_path}: {exc}") from exc
