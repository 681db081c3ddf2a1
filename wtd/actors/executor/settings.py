"""The Executor's knobs: self-healing, storage and enforcement (from the config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wtd.enforcement.agents import AgentRule
from wtd.healing.retry import RetryPolicy


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The Executor's knobs: self-healing, storage and enforcement (from the config)."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    circuit_threshold: int = 5
    circuit_timeout: float = 60.0
    backups_keep: int = 10
    backup_every: int = 50
    journal_max_bytes: int = 8 * 1024 * 1024
    max_file_bytes: int = 64 * 1024 * 1024
    max_depth: int = 100
    max_connections: int = 512
    frame_timeout: float = 10.0
    advisory_rules: tuple[str, ...] = ()
    agent_rules: dict[str, AgentRule] = field(default_factory=dict)
    workspaces: tuple[Path, ...] | None = None
    claim_lease: float = 1800.0  # seconds ([claims] lease, $WT_CLAIM_TTL)
