"""``wtctl events [--all] [--tracker PATH] [--socket PATH] [--no-autostart]``.

Follows the daemon's event stream and prints each event as one JSON object per
line (NDJSON) until interrupted, so scripts can react to changes instead of
polling. The first line is ``{"type": "subscribed", …}``: from then on nothing is
missed. By default only the current workspace's events are shown.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from wtctl.args import Args, UsageError, parse_args, socket_path
from wtctl.connection import ConnectionLost, Unavailable, connect
from wtd import wire
from wtd.workspace import find_workspace, resolve


def workspace_of(args: Args) -> str:
    cwd = Path(os.getcwd())
    if args.tracker:
        return str(resolve(args.tracker, cwd)[0].workspace)
    return str(find_workspace(cwd) or cwd)


def main(argv: list[str]) -> int:
    everything = "--all" in argv
    try:
        args = parse_args([a for a in argv if a != "--all"])
    except UsageError as exc:
        print(f"wtctl events: {exc}", file=sys.stderr)
        return wire.EXIT_INVALID
    if args.phrase_words:
        print(f"wtctl events: unexpected {' '.join(args.phrase_words)!r}", file=sys.stderr)
        return wire.EXIT_INVALID
    try:
        conn = connect(socket_path(args), autostart=args.autostart)
    except Unavailable as exc:
        print(f"wtd unavailable: {exc}", file=sys.stderr)
        return wire.EXIT_UNAVAILABLE
    conn.sock.settimeout(None)  # events may be far apart
    try:
        workspace = "" if everything else workspace_of(args)
        reply = conn.request(wire.subscribe("events", workspace))
        if wire.kind(reply) != wire.SUBSCRIBED:
            print(f"wtctl events: {wire.refusal(reply)}", file=sys.stderr)
            return wire.EXIT_FAILED
        event = reply  # the first line says the stream is live
        while True:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            event = conn.receive()
    except KeyboardInterrupt:
        return 0
    except (ConnectionLost, BrokenPipeError):
        return 0 if sys.stdout.closed else wire.EXIT_UNAVAILABLE
    finally:
        conn.close()
