"""Knowledge actor: one KnowledgeBase per workspace, persisted at ``.ecw/knowledge.json``."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import assert_never

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream

from wtd.actors import answer, serve
from wtd.healing.analysis import Strategy
from wtd.healing.knowledge import KnowledgeBase
from wtd.messages import Advice, Consult, KnowledgeMessage, Probe, RecoveryFinished, ShowKnowledge


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Knowledge:
    name = "knowledge"

    def __init__(self, inbox: MemoryObjectReceiveStream[KnowledgeMessage]) -> None:
        self._inbox = inbox
        self._bases: dict[str, KnowledgeBase] = {}

    def _base(self, workspace: str) -> KnowledgeBase:
        base = self._bases.get(workspace)
        if base is None:
            path = Path(workspace) / ".ecw" / "knowledge.json" if workspace else None
            base = self._bases[workspace] = KnowledgeBase(path)
        return base

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the inbox; after a crash each knowledge base is read from disk again."""
        self._bases = {}
        task_status.started()
        await serve(self._inbox, self._handle, name=self.name)

    async def _handle(self, msg: KnowledgeMessage) -> None:
        match msg:
            case Consult(diagnosis=diagnosis, reply_to=reply_to):
                base = self._base(diagnosis.symptom.workspace)
                await anyio.to_thread.run_sync(
                    functools.partial(base.record_failure, diagnosis, at=_now())
                )
                key = diagnosis.symptom.key
                outcomes = {s.value: base.outcomes(key, s.value) for s in Strategy}
                await answer(reply_to, Advice(outcomes=outcomes))
            case RecoveryFinished(diagnosis=diagnosis, strategy=strategy, success=success):
                base = self._base(diagnosis.symptom.workspace)
                await anyio.to_thread.run_sync(
                    functools.partial(
                        base.record_recovery, diagnosis, success, strategy=strategy, at=_now()
                    )
                )
            case ShowKnowledge(workspace=workspace, reply_to=reply_to):
                await answer(reply_to, self._base(workspace).describe())
            case Probe(reply_to=reply_to):
                await answer(reply_to, self.name)
            case _:
                assert_never(msg)
