"""``wtctl daemon [--socket PATH] [--json]``: is wtd running (version, pid, uptime, socket)?"""

from __future__ import annotations

import json
from typing import TextIO

from wtctl.args import UsageError, parse_args, socket_path
from wtctl.connection import ConnectionLost, Unavailable, connect
from wtd import wire


def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """``wtctl daemon [--socket PATH] [--json]``: report whether wtd runs; never starts it."""
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(f"wtctl daemon: {exc}", file=err)
        return wire.EXIT_INVALID
    path = socket_path(args)
    try:
        conn = connect(path, autostart=False)
        try:
            pong = conn.request(wire.ping("status"))
        finally:
            conn.close()
    except (Unavailable, ConnectionLost):
        if args.json:
            out.write(json.dumps({"running": False, "socket": path}) + "\n")
        else:
            print(f"wtd is not running (nothing answers on {path})", file=out)
        return wire.EXIT_UNAVAILABLE
    server, pid, uptime = wire.server(pong), wire.pid(pong), wire.uptime(pong)
    if args.json:
        out.write(
            json.dumps(
                {
                    "running": True,
                    "version": server,
                    "pid": pid,
                    "uptime_s": uptime,
                    "socket": path,
                }
            )
            + "\n"
        )
        return 0
    minutes, seconds = divmod(int(uptime), 60)
    hours, minutes = divmod(minutes, 60)
    print(f"{server} is running (pid {pid})", file=out)
    print(f"  socket: {path}", file=out)
    print(f"  uptime: {hours}h {minutes:02d}m {seconds:02d}s", file=out)
    return 0
