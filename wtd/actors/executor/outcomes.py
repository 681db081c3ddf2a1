"""Small pure helpers every handler family shares: outcomes, labels, lookups."""

from __future__ import annotations

import functools
from pathlib import Path

import msgspec

from wtd import errors, protocol, workspace
from wtd.enforcement.chain import EnforcementResult
from wtd.healing.analysis import Symptom
from wtd.messages import Outcome
from wtd.workspace import TrackerPaths


def caller(options: protocol.Options) -> str:
    """Who made a change, as the journal and history name them."""
    if options.agent:
        return f"{'subagent' if options.subagent else 'agent'}:{options.agent}"
    return "subagent" if options.subagent else "user"


@functools.lru_cache(maxsize=1024)  # paths are immutable; relative_to is not cheap
def label(paths: TrackerPaths) -> str:
    """The tracker as replies and events name it: its view, relative to the workspace."""
    return str(paths.markdown.relative_to(paths.workspace))


def exists(paths: TrackerPaths) -> bool:
    return paths.json.exists() or paths.markdown.exists()


def must_exist(paths: TrackerPaths) -> None:
    """Raise NotFound (naming the trackers there are) unless the tracker has a file."""
    if not (paths.json.exists() or paths.markdown.exists() or paths.journal.exists()):
        known = workspace.trackers_in(paths.workspace)
        raise errors.NotFound(
            f"No tracker {paths.name!r} in {paths.workspace}"
            + (f" (trackers here: {', '.join(known)})" if known else ""),
            suggestions=known[:3],
        )


def workspace_of(request: protocol.Command, cwd: Path) -> Path:
    if request.tracker:
        return workspace.resolve(request.tracker, cwd)[0].workspace
    return workspace.find_workspace(cwd) or cwd


def failure(exc: errors.WtdError, tracker: str = "", symptom: Symptom | None = None) -> Outcome:
    return Outcome(
        ok=False,
        error=protocol.ErrorInfo(code=exc.code, message=exc.message, suggestions=exc.suggestions),
        tracker=tracker,
        symptom=symptom,
    )


def with_healing(outcome: Outcome, healing: list[str]) -> Outcome:
    if not healing:
        return outcome
    return msgspec.structs.replace(outcome, healing=[*healing, *outcome.healing])


def blocked(verdict: EnforcementResult) -> Outcome:
    """The reply to a request the Enforcer did not allow: a question or a denial."""
    code = verdict.code or "denied"
    if code == "consent_required":
        message = "\n".join(
            [
                verdict.prompt[0],
                *(f"  {line}" for line in verdict.prompt[1:-1]),
                "",
                f"  {verdict.prompt[-1]}",
                "  (one-shot: rerun with --skip-consent, or answer in the REPL or batch mode)",
            ]
        )
    else:
        message = verdict.reason or "Denied by enforcement"
    return Outcome(
        ok=False,
        lines=list(verdict.advisories),
        error=protocol.ErrorInfo(code=code, message=message),
        result=(
            {"consent_token": verdict.token, "level": verdict.level, "basis": verdict.basis}
            if verdict.token
            else {"level": verdict.level, "basis": verdict.basis}
        ),
    )
