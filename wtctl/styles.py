"""How the REPL looks: its style sheet, a reply and an event as styled text.

The reply is walked by ``wtctl.replies.parts``, as the one-shot prints it; only
the colours are the REPL's: healing green, errors red, advisories and hints yellow.
"""

from __future__ import annotations

from typing import Any

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.styles import Style

from wtctl.replies import CONSENT, ERROR, HEALING, HEALTH, HINT, LINE, parts
from wtd import wire

STYLE = Style.from_dict(
    {
        "prompt": "bold",
        "healing": "ansigreen",
        "error": "ansired",
        "warning": "ansiyellow",
        "hint": "ansiyellow",
        "event": "ansicyan",
        "event.healed": "ansigreen",
        "event.warning": "ansiyellow",
        "bottom-toolbar": "noreverse bg:#262626 #d0d0d0",
        "toolbar.tracker": "bold",
        "toolbar.sep": "#808080",
        "toolbar.good": "#5fd75f",
        "toolbar.warn": "#ffd75f",
        "toolbar.bad": "bold #ff5f5f",
    }
)

_WARNING_MARKS = ("⚠", "ℹ", "?", "Advisory")

_STYLES = {
    HEALING: "class:healing",
    ERROR: "class:error",
    CONSENT: "class:warning",
    HINT: "class:hint",
}


def format_reply(reply: dict[str, Any]) -> StyleAndTextTuples:
    """A reply as coloured lines: healing green, errors red, advisories and hints yellow.
    The error's message is not repeated when the result's lines already say it."""
    out: StyleAndTextTuples = []
    for what, text in parts(reply, repeat_error=False):
        style = _STYLES.get(what, "")
        if what in (LINE, HEALTH) and text.lstrip().startswith(_WARNING_MARKS):
            style = "class:warning"
        out.append((style, text + "\n"))
    return out


def format_event(event: dict[str, Any]) -> StyleAndTextTuples:
    """``[agent:planner] docs/plans/my-project.md: Task 2.2 marked complete. (56%)``."""
    kind = event.get("kind", "")
    if kind == "lagged":
        return [("class:event.warning", f"[wtd] {event.get('missed', 0)} events missed")]
    style = {"healed": "class:event.healed", "circuit": "class:event.warning"}.get(
        kind, "class:event"
    )
    tracker = wire.tracker(event)
    where = f" {tracker}:" if tracker else ""
    text = " ".join(wire.lines(event) or [kind])
    progress = event.get("progress")
    suffix = f" ({progress}%)" if isinstance(progress, int) else ""
    return [(style, f"[{event.get('actor') or 'wtd'}]{where} {text}{suffix}")]
