"""``wtctl git``: trackers shared through git (SPEC §11), without the daemon.

    wtctl git setup                       make this repository share trackers (idempotent)
    wtctl git check                       is this clone's merge set up? (exit 1 if not)
    wtctl git render [NAME|PATH ...]      write views from their JSON
    wtctl git merge-json %O %A %B %P      the merge driver of .ecw/plans/*.json
    wtctl git merge-view %O %A %B %P      the merge driver of docs/plans/*.md

``setup`` and ``check`` are in ``setup`` (standard library only), the drivers and
``render`` in ``drivers``. ``driver_missing(root)`` and ``register(root)`` are for the
daemon, which warns about a clone whose drivers are not registered; importing this
package runs nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from wtctl.git.setup import GitError, driver_missing, problems, register, repo_root, setup

__all__ = ["driver_missing", "main", "register"]

USAGE = """\
usage: wtctl git setup                   make this repository share trackers (idempotent)
       wtctl git check                   is this clone's merge set up? (exit 1 when not)
       wtctl git render [NAME|PATH ...]  write views from their JSON (all when none named)
       wtctl git merge-json %O %A %B %P  git's merge driver for .ecw/plans/*.json
       wtctl git merge-view %O %A %B %P  git's merge driver for docs/plans/*.md
"""


def main(argv: list[str]) -> int:
    out, err = sys.stdout, sys.stderr
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command in ("merge-json", "merge-view"):
        if len(args) != 4:
            print(f"wtctl git {command}: expected %O %A %B %P\n\n{USAGE}", file=err, end="")
            return 2
        from wtctl.git import drivers

        run = drivers.merge_json if command == "merge-json" else drivers.merge_view
        return run(Path(args[0]), Path(args[1]), Path(args[2]), args[3], err)
    if command in ("-h", "--help", "help"):
        out.write(USAGE)
        return 0
    if command not in ("setup", "check", "render") or (args and command != "render"):
        print(f"wtctl git: unknown command {' '.join(argv)!r}\n\n{USAGE}", file=err, end="")
        return 2
    cwd = Path.cwd()
    try:
        root = repo_root(cwd)
        if command == "setup":
            said = setup(root)
            for line in said:
                print(line, file=out)
            if not said:
                print(f"{root}: already set up, nothing changed", file=out)
            return 0
        if command == "check":
            found = problems(root)
            for line in found:
                print(line, file=err)
            if not found:
                print(f"{root}: trackers merge with wtd's drivers", file=out)
            return 1 if found else 0
    except GitError as exc:
        print(f"wtctl git {command}: {exc}", file=err)
        return 1
    from wtctl.git import drivers

    return drivers.render_views(root, args, cwd, out, err)
