"""Hand edits (in a worker thread): a JSON or a view saved by someone else is taken
over — merged three ways against the state its editor read, never written over.

A save caught mid-write is read again; a JSON that does not decode is kept aside
and rewritten from wtd's state; a view without its closing checksum section waits
for its writer for a grace period, then is kept and rendered anew.
"""

from __future__ import annotations

import logging
import time

import msgspec

from wtd import errors, gcpause
from wtd.actors.store.base import (
    CHECKSUM,
    GIT,
    HAND_EDIT,
    INCOMPLETE,
    INCOMPLETE_GRACE,
    MID_WRITE_RETRIES,
    Broken,
    Edited,
    FileState,
    Healed,
    Pending,
    SavedAgain,
    digest,
    inverse,
    now,
)
from wtd.actors.store.repair import repair_from_memory
from wtd.actors.store.writes import WritePath, stamp_of
from wtd.messages import Outcome
from wtd.storage import atomic, gitrepo, safepath
from wtd.storage.backups import keep_copy, quarantine
from wtd.tracker import commands, markdown, merge, model, ops, patch
from wtd.tracker import merge_json as fields

log = logging.getLogger("wtd.store")


def read_json_edit(files: WritePath) -> Edited | Broken | None:
    """The JSON on disk, when it is not what wtd last wrote (None: it is)."""
    stamp = stamp_of(files.paths.json)
    if stamp == files.json.stamp:
        return None
    try:
        data = files.read(files.paths.json)
    except FileNotFoundError:
        return Broken(reason="deleted", data=b"")
    except safepath.TooLarge as exc:
        # kept aside whole (it is too big to copy through memory), then rewritten
        quarantine(files.paths.json, files.paths.quarantine, reason=exc.message)
        return Broken(reason=exc.message, data=b"")
    except OSError as exc:
        return Broken(reason=str(exc), data=b"")
    if model.checksum_as(data, files.json.digest) == files.json.digest:
        files.json.stamp = stamp
        return None
    try:
        with gcpause.paused():
            edited = model.decode(data, max_bytes=files.max_bytes, max_depth=files.max_depth)
        return Edited(tracker=edited, data=data, stamp=stamp)
    except model.TrackerError as exc:
        return Broken(reason=str(exc), data=data, stamp=stamp)
    except RecursionError:
        return Broken(reason="the edited JSON nests too deep", data=data, stamp=stamp)


def adopt_json(
    files: WritePath, found: Edited | Broken | None
) -> Pending | Healed | SavedAgain | None:
    """Take over the edited JSON ``found``: the change to commit, or what the event
    stream is told when nothing is taken (an unusable file rewritten, the save of an
    older copy kept aside), or None (nothing to take). SavedAgain when it was saved
    again meanwhile (nothing done: the newer save is to be read and merged instead)."""
    if found is None:
        return None
    if isinstance(found, Broken):
        if gitrepo.merging(files.paths.workspace) and found.stamp is not None:
            # git's markers of a conflict it stopped on: the user's to resolve, not
            # damage to repair (that would drop the other side's changes)
            files.held_by_merge = found.stamp
            line = (
                f"⚠ {files.paths.json.name} holds git's conflict markers (a merge is "
                "stopped on it): left as it is; changes wait until it is resolved"
            )
            log.warning("%s: %s", files.label, line)
            files.tell(line)
            return Healed(lines=[line])
        healing = repair_from_memory(files, found.data, found.reason)
        log.warning("%s: hand-edited JSON unusable (%s): %s", files.label, found.reason, healing)
        lines = [f"✓ Issue: {found.reason}", *healing[1:]]
        for line in lines:  # and to whoever asks next: it happened between their calls
            files.tell(line)
        return Healed(lines=lines)
    base = files.loaded
    workspace = files.paths.workspace
    if (
        (
            # git's version, and git wrote it (its index follows): an agent writing back
            # the committed copy is a save of an older copy, not a checkout
            gitrepo.in_index(workspace, files.paths.json, found.data)
            and found.stamp is not None
            and gitrepo.index_follows(workspace, found.stamp[0])
        )
        or gitrepo.merging(workspace)
        or (
            found.stamp is not None
            and gitrepo.put_back_by_git(workspace, found.data, found.stamp[0])
        )
    ):
        # (stopped on a conflict, the file is the merge wtd's driver made, not in the
        # index yet; or a stash pop, which puts back a file git's index does not hold:
        # git's all the same)
        return take_gits(files, found, base)
    change, conflicts, stale, fitted, said = merge_json(files, found, base)
    if stamp_of(files.paths.json) != found.stamp:
        return SavedAgain()  # saved again while this one was merged
    if stale:
        # every value it changed is one wtd had before and has changed since: the
        # save of an older copy. Nothing is taken, nothing is thrown away.
        kept = keep_copy(
            found.data,
            files.paths.json.name,
            files.paths.conflicts,
            reason="a save of an older copy: its values are older than wtd's",
        )
        files.json.stamp = found.stamp
        lines = [
            f"⚠ A save of {files.paths.json.name} held only older values than wtd's "
            f"(it was written from an older copy): not taken; kept at {files.rel(kept)}"
        ]
        log.warning("%s: %s", files.label, lines[0])
        files.rewrite_json()
        return Healed(lines=lines)
    if patch.is_empty(change) and not conflicts:  # same content, other formatting
        files.json.stamp = found.stamp
        # kept as it is; the view names these bytes' checksum (committed together,
        # a later checkout of both leaves the working tree clean)
        files.json.digest = digest(found.data)
        files.view_dirty = True
        return None

    actor = HAND_EDIT
    summary = [f"Adopted a hand edit of {files.paths.json.name}"]
    summary += [f"Adapted to the v2 schema: {line}" for line in fitted]
    summary += said
    if conflicts:
        kept = keep_copy(
            found.data, files.paths.json.name, files.paths.conflicts, reason="; ".join(conflicts)
        )
        summary += [f"⚠ Conflict: {line}" for line in conflicts]
        summary.append(f"⚠ The edited JSON is kept at {files.rel(kept)}")
    change = msgspec.structs.replace(change, summary=summary)
    at = now()
    applied = ops.apply(base, change, at=at, actor=actor)
    item = Pending(
        rid=f"{actor}-{at}",
        actor=actor,
        change=change,
        at=at,
        outcome=Outcome(ok=True, lines=summary, tracker=files.label),
        tracker=applied.tracker,
        undo=inverse(base, applied.tracker, actor, at),
    )
    files.json.stamp = found.stamp
    files.json.digest = digest(found.data)  # the commit's check must not quarantine it
    return item


def take_gits(files: WritePath, found: Edited, base: model.Tracker) -> Pending | None:
    """The JSON is what git's index holds: a checkout, pull, merge or rebase wrote it
    (SPEC §11). It is taken as it is — the merge was git's, with wtd's driver — so the
    file wtd writes back is byte for byte git's (a clean working tree), and history
    says git. Only what the schema cannot hold is adapted."""
    target, fitted = model.fit_schema(found.tracker)
    if model.stale_progress(target) is not None:
        target = model.with_derived_progress(target)
    # nothing adapted: git's very bytes are written back, in whatever layout git has
    # them (re-encoded in wtd's, a checkout left the working tree dirty)
    verbatim = found.data if target is found.tracker else None
    name = files.paths.json.name
    change = patch.diff(target, base, reason=f"git's version of {name}")
    files.json.stamp = found.stamp
    files.json.digest = digest(found.data)  # the commit's check must not quarantine it
    if patch.is_empty(change):
        return None
    summary = [f"Took git's version of {name} (checked out, pulled or merged)"]
    summary += [f"Adapted to the v2 schema: {line}" for line in fitted]
    at = now()
    log.info("%s: %s", files.label, "; ".join(summary))
    return Pending(
        rid=f"git-{at}",
        actor=GIT,
        change=msgspec.structs.replace(change, summary=summary),
        at=at,
        outcome=Outcome(ok=True, lines=summary, tracker=files.label),
        tracker=target,
        undo=inverse(base, target, GIT, at),
        verbatim=verbatim,
    )


def merge_json(
    files: WritePath, found: Edited, base: model.Tracker
) -> tuple[commands.Patch, list[str], bool, list[str], list[str]]:
    """The change a hand-edited JSON makes, merged three ways (in a worker thread:
    it reads the journal and may be long on a big tracker); whether the file
    differs from wtd's state only in values older than wtd's (a stale save); and
    what was adapted to the schema (a name over 200 characters, a date-only date…:
    ``model.fit_schema``), so that what wtd writes back validates; and what the merge
    has to say (a task added on both sides renumbered, a dependency dropped)."""
    edited = found.tracker
    # The editor may have read an older JSON than wtd's latest (agents kept
    # working meanwhile): merge three ways against the state it read.
    started_from = patch.base_of(files.recent_states(), edited)
    # what the schema cannot hold is adapted in the edit itself, and said so; then it
    # is merged field by field, with git's merge driver's code (SPEC §6, §11)
    edited, fitted = model.fit_schema(edited)
    result = fields.merge(started_from, base, edited)
    merged = result.tracker
    conflicts = [c.line() for c in result.conflicts]
    said = [*(r.line() for r in result.renumbered), *result.notes]
    if model.stale_progress(merged) is not None:
        merged = model.with_derived_progress(merged)
    change = patch.diff(merged, base, reason=f"hand edit of {files.paths.json.name}")
    stale = (
        patch.is_empty(change)
        and not conflicts
        and not patch.is_empty(patch.diff(model.with_derived_progress(edited), base, reason=""))
    )
    return change, conflicts, stale, fitted, said


VIEW_START = "# Work Tracker"  # how every view starts; an empty file may be a save begun


def merge_view(files: WritePath, attempt: int) -> Pending | object | None:
    """Merge a hand-edited view three ways (base: the view it was rendered from).

    A view without its closing Recovery Checksum section is incomplete (caught
    mid-save, truncated, or not a view at all): it is read again, and if it stays
    so, it is kept and the view rendered anew — never taken for mass deletion. One
    that is empty, or the start of a view, may be a save under way (a writer that
    truncated the file and has not written it all yet): it is given a grace period
    before that, so that its writer's bytes do not land in a file wtd replaced.
    """
    stamp = stamp_of(files.paths.markdown)
    if stamp is None:
        files.write_view(force=True)  # the view was deleted: render it again
        return None
    if stamp == files.md.stamp:
        return None
    if (
        files.incomplete is not None
        and files.incomplete[0] == stamp
        and time.monotonic() - files.incomplete[1] < INCOMPLETE_GRACE
    ):
        return None  # the same incomplete save: still waiting for its writer
    try:
        text = files.read(files.paths.markdown)
    except (safepath.TooLarge, PermissionError, IsADirectoryError) as exc:
        # it will not be readable by retrying: moved aside whole, the view rendered again
        why = exc.message if isinstance(exc, safepath.TooLarge) else f"unreadable: {exc}"
        where = quarantine(files.paths.markdown, files.paths.quarantine, reason=why)
        log.warning("%s: %s; kept at %s, view rendered again", files.label, why, where)
        files.md = FileState()
        files.write_view(force=True)
        return None
    except (OSError, errors.WtdError):
        return None
    if files.md.same(text):
        files.md.stamp = stamp
        return None
    decoded = text.decode("utf-8", errors="replace")
    if CHECKSUM.search(decoded) is None:
        if attempt < MID_WRITE_RETRIES:
            return INCOMPLETE
        start = decoded.lstrip("\ufeff \r\n")
        if not (start.startswith(VIEW_START) or VIEW_START.startswith(start)):
            files.incomplete = None  # not the start of a view: damage, not a slow save
            log.warning("%s: edited view is not a view; kept, and rendered again", files.label)
            files.md = FileState(digest="incomplete")  # _write_view keeps a copy first
            files.write_view(force=True)
            return None
        # A writer may pause mid-save for a while (an editor, a slow script): its
        # file is left alone — changes meanwhile reach the JSON, and the view once
        # the save is complete — until it has stayed incomplete for a grace period.
        clock = time.monotonic()
        if files.incomplete is None or files.incomplete[0] != stamp:
            files.incomplete = (stamp, clock)
        if clock - files.incomplete[1] < INCOMPLETE_GRACE:
            return None
        log.warning("%s: edited view is incomplete; kept, and rendered again", files.label)
        files.incomplete = None
        files.md = FileState(digest="incomplete")  # _write_view keeps a copy first
        files.write_view(force=True)
        return None
    files.incomplete = None
    return merge_markdown(files, text, stamp)


def merge_markdown(files: WritePath, text: bytes, stamp: atomic.Stamp | None) -> Pending | None:
    """Three-way merge of a hand-edited view into the JSON, field by field.

    Base: the tracker the view was rendered from. Where the JSON changed the same
    field since, the JSON wins and the view's value is kept as a conflict record
    (journalled, so ``history`` shows it). Text that maps to nothing is kept in a
    copy of the edited file under ``.ecw/conflicts/``. Returns the change to commit.
    """
    ours = files.loaded
    decoded = text.decode("utf-8", errors="replace")
    rendered_from = CHECKSUM.search(decoded)
    base = files.view_base or ours
    if rendered_from is not None and rendered_from.group(1) != files.json.digest:
        # the editor started from an older view: merge against the state it showed
        older = files.offline_base or files.tracker_at(rendered_from.group(1))
        if older is not None:
            base = older
    with gcpause.paused():
        edited = markdown.parse_view(decoded)
        edits = markdown.diff_views(markdown.view_of(base), edited)
        chained = files.edited_view
        if (
            chained is not None
            and rendered_from is not None
            and chained[0] == rendered_from.group(1)
            and chained[0] != files.json.digest
            and chained[2] is not base
        ):
            # Saved again before wtd re-rendered the view it had merged (an editor, a
            # script editing twice in a row): the same checksum, but the editor most
            # likely read that edit, not the rendering — unless it has less of it.
            # Then what it changed is what differs from that edit, merged against the
            # state merging that edit left. (Not when the JSON is at that checksum
            # again — an undo, or that merge's commit failed: the view was rendered
            # from it anew, or shows a change never made.)
            again = markdown.diff_views(chained[1], edited)
            if set(again) <= set(edits):  # it takes back nothing of that edit
                base, edits = chained[2], again
    at = now()
    result = merge.merge(
        base, ours, [e for e in edits if not isinstance(e, markdown.Unmapped)], at=at
    )
    unmapped = [e for e in edits if isinstance(e, markdown.Unmapped)] + list(result.unmapped)
    lines = [f"Merged a hand edit of {files.label}", *result.applied]
    if result.conflicts or unmapped:
        kept = files.paths.conflicts / f"{at.replace(':', '')}-{files.paths.name}.md"
        files.replace(kept, text)  # may fail: then the edited view stays as it is
        for conflict in result.conflicts:
            lines.append(
                f"⚠ Conflict: {conflict.task_id} {conflict.field}: the JSON's "
                f"{conflict.json_value!r} kept, the view had {conflict.markdown_value!r}"
                + (f" ({conflict.reason})" if conflict.reason else "")
            )
        for fragment in unmapped[:10]:
            lines.append(f"⚠ Not understood (line {fragment.line}): {fragment.text[:80]!r}")
        lines.append(f"⚠ The edited view is kept at {files.rel(kept)}")
    files.md = FileState(data=text, stamp=stamp)  # the edit itself: no copy
    files.offline_base = None
    if not result.changed and not result.conflicts and not unmapped:
        if rendered_from is not None:
            files.edited_view = (rendered_from.group(1), edited, ours)
        files.write_view(force=True)  # nothing to take over (e.g. only layout changed)
        return None
    change = msgspec.structs.replace(
        patch.diff(result.tracker, ours, reason=f"hand edit of {files.label}"), summary=lines
    )
    applied = ops.apply(ours, change, at=at, actor=HAND_EDIT)
    if rendered_from is not None:
        files.edited_view = (rendered_from.group(1), edited, applied.tracker)
    log.info("%s: %s", files.label, " / ".join(lines))
    return Pending(
        rid=f"hand-edit-{at}",
        actor=HAND_EDIT,
        change=change,
        at=at,
        outcome=Outcome(ok=True, lines=lines, tracker=files.label),
        tracker=applied.tracker,  # committed even when unchanged: history keeps the record
        undo=inverse(ours, applied.tracker, HAND_EDIT, at),
    )
