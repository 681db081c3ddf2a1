"""Workspace operations: trackers made, deleted, restored, imported and listed.

``delete tracker`` lives here whole: its consent (a guarded operation for a tracker
that exists), its carrying out (the Store moves the files to the trash, then the
Store is forgotten), and its undo (``undo`` of a tracker in the trash restores it,
enforced as a restore).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import anyio

from wtd import errors, protocol, workspace
from wtd.actors.executor.context import Context
from wtd.actors.executor.outcomes import label, must_exist, workspace_of
from wtd.actors.executor.trackers import on_store, on_tracker, open_tracker
from wtd.actors.store import now as store_now
from wtd.enforcement.agents import Action
from wtd.enforcement.consent import Operation
from wtd.messages import Outcome
from wtd.storage import atomic, safepath, trash
from wtd.storage.plans import Prepared, import_lines, import_report, prepare, read_plan
from wtd.tracker import commands, model
from wtd.tracker.importers import NothingToImport
from wtd.workspace import TrackerPaths

# ------------------------------------------------------------------ create initiative


async def create_initiative(
    ctx: Context, command: commands.CreateInitiative, request: protocol.Command, cwd: Path
) -> Outcome:
    ws = workspace_of(request, cwd)
    await ctx.claim(ws, create=True)

    async def carry_out() -> Outcome:
        return await _create_initiative(ctx, command, ws, request)

    return await ctx.once(
        ws,
        request,
        lambda: ctx.guarded(
            ws, command, request, carry_out, operation=Operation.create_initiative(command.number)
        ),
    )


async def _create_initiative(
    ctx: Context, command: commands.CreateInitiative, ws: Path, request: protocol.Command
) -> Outcome:
    number = command.number
    taken = [n for n in workspace.trackers_in(ws) if n.split("-", 1)[0] == f"{number:02d}"]
    if taken:
        raise errors.InvalidArgument(
            f"Initiative {number} already exists: {taken[0]}", suggestions=taken[:1]
        )
    title = command.title or f"Initiative {number}"
    name = f"{number:02d}-{_slug(command.title or 'initiative')}"
    paths = workspace.for_workspace(ws, name)
    if paths.json.exists() or paths.markdown.exists():
        raise errors.InvalidArgument(f"A tracker named {name} already exists")
    tracker = model.new_tracker(title, initiative_id=str(number), at=store_now())
    await anyio.to_thread.run_sync(atomic.atomic_write, paths.json, model.encode(tracker))
    opened = await ctx.healer.heal(paths, commands.ShowProgress(), request)  # renders the view
    if not opened.ok:
        return opened
    created = Outcome(
        ok=True,
        lines=[f"Created initiative {number}: {title} → {label(paths)}"],
        result={"initiative": number, "tracker": name, "json": str(paths.json)},
        tracker=label(paths),
        progress=0,
    )
    await ctx.healer.announce(paths, request, created)
    return created


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:48].strip("-") or "initiative"


# ------------------------------------------------------------------ import plan


async def import_plan(
    ctx: Context, command: commands.ImportPlan, request: protocol.Command, cwd: Path
) -> Outcome:
    ws = workspace_of(request, cwd)
    if not (ws / ".ecw").is_dir():
        # no reply can have been kept for a retry: a plan refused now (not found,
        # nothing understood, the name taken) leaves the workspace untouched
        await anyio.to_thread.run_sync(_prepare, ctx, command, cwd, ws)
    await ctx.claim(ws, create=True)

    async def carry_out() -> Outcome:
        return await _import_plan(ctx, command, ws, request)

    # it creates a tracker: what subagents (and agents denied create_initiative) may not
    return await ctx.once(
        ws,
        request,
        lambda: ctx.guarded(ws, command, request, carry_out, action="create_initiative"),
    )


def _prepare(ctx: Context, command: commands.ImportPlan, cwd: Path, ws: Path) -> Prepared:
    return prepare(
        command.path, command.name, cwd=cwd, ws=ws, max_bytes=ctx.settings.max_file_bytes
    )


async def _import_plan(
    ctx: Context, command: commands.ImportPlan, ws: Path, request: protocol.Command
) -> Outcome:
    """``import plan PATH [as NAME]`` (SPEC §2a): the plan becomes a tracker of the
    workspace (JSON written, view rendered); the plan itself is never written."""
    plan = await anyio.to_thread.run_sync(_prepare, ctx, command, Path(request.cwd), ws)
    paths, result = plan.paths, plan.result

    def write() -> None:
        safepath.check(paths.json)
        safepath.check(paths.markdown)
        atomic.atomic_write(paths.json, model.encode(result.tracker))

    await anyio.to_thread.run_sync(write)
    opened = await ctx.healer.heal(paths, commands.ShowProgress(), request)  # renders the view
    if not opened.ok:
        return opened
    tracker = label(paths)
    imported = Outcome(
        ok=True,
        lines=[*import_lines(result), f"Created tracker {paths.name} → {tracker}"],
        result={
            "tracker": paths.name,
            "json": str(paths.json),
            "markdown": str(paths.markdown),
            "source": str(plan.source),
            **import_report(result),
        },
        tracker=tracker,
        progress=opened.progress,
    )
    await ctx.healer.announce(paths, request, imported)
    return imported


# ------------------------------------------------------------------ delete, restore, undo


async def delete_tracker(
    ctx: Context, command: commands.DeleteTracker, request: protocol.Command, cwd: Path
) -> Outcome:
    """``delete tracker``: consent is asked only for a tracker that is there; once the
    Store has moved its files to the trash, the Store is forgotten."""
    paths, implicit = await open_tracker(ctx, request, cwd)
    must_exist(paths)  # never ask consent for a tracker that is not there
    operation = Operation.delete_tracker(paths.name)

    async def carry_out() -> Outcome:
        outcome = await on_store(ctx, paths, command, request)
        if outcome.ok:
            await ctx.stores.forget(paths)
        return outcome

    return await on_tracker(
        ctx, command, request, paths, implicit, operation=operation, carry_out=carry_out
    )


async def restore_tracker(
    ctx: Context, command: commands.RestoreTracker, request: protocol.Command, cwd: Path
) -> Outcome:
    ws = workspace_of(request, cwd)
    await ctx.claim(ws, create=True)

    async def carry_out() -> Outcome:
        return await _restored(ctx, ws, command.name, request)

    return await ctx.once(
        ws,
        request,
        lambda: ctx.guarded(ws, command, request, carry_out, action="restore_tracker"),
    )


async def undo(
    ctx: Context, command: commands.Undo, request: protocol.Command, cwd: Path
) -> Outcome:
    """``undo``: the tracker's last change, or — when the tracker is in the trash — the
    undo of ``delete tracker``, which restores it (kept like any workspace request)."""
    paths, implicit = await open_tracker(ctx, request, cwd)
    if ctx.is_subagent(request.options):
        command = commands.Undo(by_subagent=True)  # may not undo a guarded change

    async def carry_out() -> Outcome:
        if _in_trash(paths):
            return await _restored(ctx, paths.workspace, paths.name, request)
        return await on_store(ctx, paths, command, request)

    async def enforced() -> Outcome:
        action: Action | None = "restore_tracker" if _in_trash(paths) else None
        return await on_tracker(
            ctx, command, request, paths, implicit, action=action, carry_out=carry_out
        )

    if paths.json.exists():
        return await enforced()
    return await ctx.once(paths.workspace, request, enforced)


def _in_trash(paths: TrackerPaths) -> bool:
    """Is the tracker deleted (its JSON gone, its files in the trash)? An ``undo`` then
    restores it: the undo of ``delete tracker``."""
    return not paths.json.exists() and bool(trash.entries(paths.state / "trash", paths.name))


async def _restored(ctx: Context, ws: Path, name: str | None, request: protocol.Command) -> Outcome:
    """The tracker brought back from the trash, and followers (the board, ``wtctl
    events``) told: a restore journals no change of it, so nothing else tells them."""
    outcome = await anyio.to_thread.run_sync(_restore, ws, name)
    restored = workspace.for_workspace(ws, str(outcome.result["restored"]))
    await ctx.healer.announce(restored, request, outcome)
    return outcome


def _restore(ws: Path, name: str | None) -> Outcome:
    folder = ws / ".ecw" / "trash"
    found = trash.entries(folder, name)
    if not found:
        raise errors.NotFound(
            f"Nothing to restore in {folder}" + (f" for {name!r}" if name else "")
        )
    try:
        restored, files = trash.restore(found[0])
    except trash.TrashError as exc:
        raise errors.InvalidArgument(str(exc)) from exc
    paths = workspace.for_workspace(ws, restored)
    return Outcome(
        ok=True,
        lines=[f"Restored tracker {restored} ({len(files)} file(s)) → {label(paths)}"],
        result={"restored": restored, "files": [str(f) for f in files]},
        tracker=label(paths),
    )


# ------------------------------------------------------------------ list trackers


async def list_trackers(
    ctx: Context, command: commands.ListTrackers, request: protocol.Command, cwd: Path
) -> Outcome:
    ws = workspace.find_workspace(cwd) or cwd
    if request.tracker:
        ws = workspace.resolve(request.tracker, cwd)[0].workspace
    await ctx.claim(ws, create=False)
    names = workspace.trackers_in(ws)
    if not names:
        return Outcome(ok=True, lines=[f"No trackers in {ws}"], result=[])
    lines = [f"Trackers in {ws}:"]
    result: list[dict[str, object]] = []
    for name in sorted(names):
        paths: TrackerPaths = workspace.for_workspace(ws, name)
        if _never_imported(paths):
            # a plan in docs/plans/ is imported by the first command that names it
            # (README): listing it is no such command, so it is only looked at
            found = await anyio.to_thread.run_sync(_plan_tasks, paths, ctx.settings.max_file_bytes)
            if isinstance(found, int):
                n = f"{found} task" if found == 1 else f"{found} tasks"
                lines.append(
                    f"  {name:<24} (a plan, not imported yet: {n}; the first command that "
                    "names it imports it)"
                )
                result.append({"name": name, "imported": False, "tasks": found})
            elif found is None:
                lines.append(f"  {name:<24} (not a tracker: no task in docs/plans/{name}.md)")
                result.append({"name": name, "error": "not a tracker: no task found"})
            else:
                lines.append(f"  {name:<24} ⚠ {found.message.splitlines()[0]}")
                result.append({"name": name, "error": found.message.splitlines()[0]})
            continue
        outcome = await ctx.healer.heal(paths, commands.ShowProgress(), request)
        if outcome.ok:
            lines.append(f"  {name:<24} {outcome.progress}%")
            result.append({"name": name, "progress": outcome.progress})
        elif outcome.error is not None and outcome.error.code == "not_understood":
            # Markdown beside the views that is no plan (a README, notes): not an error
            lines.append(f"  {name:<24} (not a tracker: no task in docs/plans/{name}.md)")
            result.append({"name": name, "error": "not a tracker: no task found"})
        else:
            message = outcome.error.message if outcome.error else "unavailable"
            message = message.splitlines()[0] if message else "unavailable"
            lines.append(f"  {name:<24} ⚠ {message}")
            result.append({"name": name, "error": message})
    return Outcome(ok=True, lines=lines, result=result)


def _never_imported(paths: TrackerPaths) -> bool:
    """A Markdown file in docs/plans/ with no JSON and no past (no journal records, no
    backup): a plan wtd has not imported (or a README beside the views)."""
    try:
        journalled = os.stat(paths.journal).st_size > 0
    except OSError:
        journalled = False
    return not (os.path.lexists(paths.json) or journalled or paths.backups.exists())


def _plan_tasks(paths: TrackerPaths, max_bytes: int) -> int | errors.WtdError | None:
    """How many tasks the plan ``paths.markdown`` would import as (None: none, it is
    no plan; an error: it cannot be read or is over the size limit). Writes nothing."""
    try:
        data = safepath.read_bytes(paths.markdown, max_bytes)
        return read_plan(
            data, title_hint=paths.name, source=label(paths), max_bytes=max_bytes
        ).tasks
    except NothingToImport:
        return None
    except errors.WtdError as exc:
        return exc
    except OSError as exc:
        return errors.StorageFailure(f"{label(paths)}: {exc.strerror or exc}")
