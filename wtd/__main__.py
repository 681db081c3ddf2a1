"""``wtd``: start the daemon (or ``python -m wtd``).

    wtd [--socket PATH] [--config PATH] [--log-level LEVEL] [--ready-fd FD] [--version]

Exit codes: 0 clean stop, 1 startup error (bad arguments, socket in use), 70 an
actor crash loop (systemd restarts the daemon).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from wtd import __version__


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wtd", description="the self-healing work tracker daemon")
    parser.add_argument("--version", action="version", version=f"wtd {__version__}")
    parser.add_argument("--socket", type=Path, help="socket path (default: $WTD_SOCKET, …)")
    parser.add_argument("--config", type=Path, help="config file (default: $WTD_CONFIG, …)")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="default: [daemon] log_level of the config, or $WTD_LOG_LEVEL",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the effective configuration and exit"
    )
    parser.add_argument(
        "--ready-fd",
        type=int,
        default=None,
        help="write one byte to this file descriptor once serving (used by wtctl's autostart)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # However wtd is started (console script, ``python -m wtd`` from wtctl's autostart,
    # socket activation, a parent that set SIGPIPE to default): a client hanging up
    # before its reply must give EPIPE, handled per connection, never a killing signal.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    from wtd import config as wtd_config

    try:
        config = wtd_config.load(args.config)
    except wtd_config.ConfigError as exc:
        print(f"wtd: {exc}", file=sys.stderr)
        return 1
    if args.print_config:
        print(wtd_config.describe(config), end="")
        return 0
    logging.basicConfig(
        level=args.log_level or config.daemon.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every change at INFO
    log = logging.getLogger("wtd")
    from wtd import malloc
    from wtd.daemon import DaemonError, serve  # heavy imports only once we really start

    malloc.one_arena()

    try:
        return serve(config=config, socket_path=args.socket, ready_fd=args.ready_fd)
    except DaemonError as exc:
        print(f"wtd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        log.info("interrupted")
        return 0


if __name__ == "__main__":
    sys.exit(main())
