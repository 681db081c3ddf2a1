"""The torture runner: ``python -m tests.torture.runner --seconds N --seed S [--workers K]``.

Starts a real ``wtd`` on a temp workspace (each start, seeded, the way users start
it: the console script, wtctl's autostart of ``python -m wtd``, or socket activation;
sometimes with a low fd limit or a connection cap: ``daemon``) and, for N seconds,
mixes concurrent clients (real ``wtctl`` processes and raw-socket clients) changing
their own tasks, a client that hangs up before its replies (``hangup``), hand edits
of both files, restarts with random ``WT_FAILPOINTS``, ``kill -9`` at random moments,
power cuts (``kill -9``, then each tracker file left as one could leave it: older,
short or empty, the journal intact), the hostile-socket mix, and the episodes of
``scenarios`` (a second daemon for the same workspace, retried request ids, symlink
traps, pathological files, connection floods). After each restart and at the end it
checks the invariants (``checks``) and prints one summary line; on failure it prints
what broke, the seed and the command that reruns it, and exits 1. ``--avoid NAME``
leaves one ingredient out.

The seed fixes every random choice; the interleaving with the daemon is still up to
the scheduler, so a failure may need a few reruns (or a longer one) to show again.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
from dataclasses import dataclass

from tests.torture.checks import Findings, check_tracker, check_usage, scan_log
from tests.torture.clients import Client, QuietLock, RawClient, WtctlClient
from tests.torture.daemon import START_AVOIDABLE, Keeper, Workspace
from tests.torture.edits import HandEditor
from tests.torture.hangup import HangupClient
from tests.torture.hostile import Hostile, Probe
from tests.torture.ledger import Ledger
from tests.torture.retries import Retries
from tests.torture.scenarios import Context, Scenarios
from tests.torture.shells import SecondShell
from wtd.storage import failpoints

POWER_CUT = "power-cut"
AVOIDABLE = (
    POWER_CUT,
    *Hostile.ATTACKS,
    *START_AVOIDABLE,
    *HangupClient.STYLES,
    *Scenarios.names(),
)
POINTS = failpoints.POINTS


def failpoint_spec(rng: random.Random) -> str:
    """One or two random failpoints, mostly bounded so the run keeps moving."""
    entries = []
    for point in rng.sample(POINTS, rng.choice((1, 1, 2))):
        roll = rng.random()
        if roll < 0.3:
            action = f"{rng.randint(1, 3)}*{rng.choice(('eagain', 'timeout'))}"
        elif roll < 0.45:
            action = f"{rng.randint(1, 2)}*{rng.choice(('enospc', 'eacces'))}"
        elif roll < 0.6 and point != "executor.receive":
            action = "1*corrupt"
        elif roll < 0.8:
            action = f"{rng.randint(0, 3)}+1*crash"
        else:
            action = f"delay({rng.choice((5, 20, 80, 200))})"
        entries.append(f"{point}={action}")
    return ";".join(entries)


@dataclass
class Options:
    seconds: float
    seed: int
    workers: int
    quiet: bool
    avoid: frozenset[str] = frozenset()
    filler: int = 0  # tasks added to the example tracker (--filler)


class Torture:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.ws = Workspace(opts.filler)
        self.keeper = Keeper(self.ws, _seed(opts.seed, "keeper"), opts.avoid)
        self.ledger = Ledger(json.loads(self.ws.json.read_text()))
        self.editor = HandEditor(self.rng.randrange(1 << 30), self.ws, self.ledger)
        self.quiet = QuietLock()
        self.stop = threading.Event()
        self.findings = Findings()
        self.client_violations: list[str] = []
        self.recent_corrupt = False
        self.durable: tuple[bytes, bytes] | None = None  # the files at the last check
        self.power_cuts = 0
        self.clients: list[Client] = []
        self.hostile = Hostile(
            self.rng.randrange(1 << 30),
            self.ws,
            self.keeper,
            self.stop,
            self.client_violations,
            opts.avoid,
        )
        self.probe = Probe(self.ws, self.keeper, self.stop, self.client_violations)
        self.context = Context(
            self.ws,
            self.keeper,
            self.ledger,
            self.quiet,
            self.stop,
            self.client_violations,
            opts.avoid,
            say=self.say,
        )
        self.scenarios = Scenarios(_seed(opts.seed, "scenarios"), self.context)
        self.hangup: HangupClient | None = None
        if not set(HangupClient.STYLES) <= opts.avoid:
            self.hangup = HangupClient(
                opts.workers,
                _seed(opts.seed, "hangup"),
                self.ws,
                self.ledger,
                self.quiet,
                self.stop,
                self.client_violations,
                keeper=self.keeper,
                avoid=opts.avoid,
            )
        self.events = 0

    def say(self, text: str) -> None:
        if not self.opts.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------ the run

    def run(self) -> int:
        try:
            self.keeper.start()
            self.checkpoint("start", strict=True)
            self.keeper.watch()
            for cid in range(self.opts.workers):
                kind = WtctlClient if cid % 2 == 0 else RawClient
                client = kind(
                    cid,
                    self.rng.randrange(1 << 30),
                    self.ws,
                    self.ledger,
                    self.quiet,
                    self.stop,
                    self.client_violations,
                )
                self.clients.append(client)
                client.start()
            if self.hangup is not None:
                self.clients.append(self.hangup)
                self.hangup.start()
            self.hostile.start()
            self.probe.start()
            self.scenarios.start()
            self.loop()
            self.finish()
        finally:
            self.stop.set()
            self.keeper.stop()
        return self.report()

    def loop(self) -> None:
        end = time.monotonic() + self.opts.seconds
        next_check = time.monotonic() + 5
        while time.monotonic() < end:
            time.sleep(self.rng.uniform(0.1, 0.8))
            self.events += 1
            roll = self.rng.random()
            if roll < 0.3:
                with self.quiet.exclusive():
                    self.hand_edit("hand edit: ")
                    time.sleep(self.rng.choice((0.0, 0.05, 0.2)))
            elif roll < 0.34 and POWER_CUT not in self.opts.avoid:
                with self.quiet.exclusive():
                    self.keeper.restart("", while_down=self.power_cut)
                # the files are as the cut left them until wtd serves the workspace
                self.checkpoint("after a power cut", strict=False, before_sync=False)
            elif roll < 0.45:
                down = self.rng.choice((0.0, 0.0, 0.05, 0.3))
                self.say(f"kill -9, down for {down}s")
                self.keeper.restart("", down_for=down)
                self.after_restart("after kill -9")
            elif roll < 0.55:
                self.say("kill -9, left to the keeper or a client's autostart")
                self.keeper.kill()
            elif roll < 0.6:
                with self.quiet.exclusive():
                    self.keeper.restart("", while_down=self.edit_while_down)
                self.after_restart("after a hand edit while wtd was down")
            elif roll < 0.72:
                spec = failpoint_spec(self.rng)
                self.recent_corrupt = self.recent_corrupt or "corrupt" in spec
                self.say(f"restart with WT_FAILPOINTS={spec}")
                self.keeper.restart(spec, down_for=self.rng.choice((0.0, 0.05)))
                self.after_restart(f"after restart with {spec}")
            elif time.monotonic() >= next_check:
                self.checkpoint("periodic", strict=False)
                next_check = time.monotonic() + 5

    def edit_while_down(self) -> None:
        self.hand_edit("hand edit while down: ")

    def hand_edit(self, label: str) -> None:
        writes = len(self.editor.writes)
        self.say(label + self.editor.edit())
        last = self.editor.writes[-1] if len(self.editor.writes) > writes else None
        if last is not None and last.kind == "valid-json" and self.durable is not None:
            # A JSON saved by hand is the floor a power cut goes back to: wtd makes one
            # edited while it was away durable before it adopts it (one edited while
            # it runs is merged through the journal, so going back to it is the
            # same as going back to an older state of wtd's)
            self.durable = (last.data, self.durable[1])

    def power_cut(self) -> None:
        """wtd was killed: leave each tracker file as a power cut could (SPEC §6: only
        the journal is fsync'd before a reply) — as it is, as it was at the last check
        (wtd's own older state), cut short, or empty. A file holding a hand edit is
        left alone: what is tested is wtd's writes, not the editor's."""
        cuts = []
        hand = {w.data for w in self.editor.writes}
        for path, older in zip(
            (self.ws.json, self.ws.md), self.durable or (None, None), strict=True
        ):
            how = self.rng.choice(("as is", "older", "older", "short", "empty"))
            try:
                if path.exists() and path.read_bytes() in hand:
                    how = "as is (a hand edit)"
                elif how == "older" and older is not None:
                    path.write_bytes(older)
                elif how == "short" and path.exists():
                    data = path.read_bytes()
                    path.write_bytes(data[: self.rng.randrange(max(1, len(data)))])
                elif how == "empty":
                    path.write_bytes(b"")
                else:
                    how = "as is"
            except OSError as exc:
                how = f"left ({exc.strerror})"
            cuts.append(f"{path.name} {how}")
        self.power_cuts += 1
        self.say("power cut: " + ", ".join(cuts))

    def after_restart(self, label: str) -> None:
        if self.rng.random() < 0.5:  # sometimes let the load hit the fresh daemon first
            time.sleep(self.rng.uniform(0.0, 0.5))
        self.checkpoint(label, strict=False)

    def checkpoint(self, label: str, *, strict: bool, before_sync: bool = True) -> None:
        with self.quiet.exclusive():
            self.keeper.ensure()
            check_tracker(
                self.ws,
                self.ledger,
                self.editor,
                self.findings,
                label,
                strict=strict,
                tolerate_torn_json=self.recent_corrupt,
                before_sync=before_sync,
            )
            self.findings.add(label, check_usage(self.keeper))
            self.recent_corrupt = False
            try:  # what a power cut may go back to: wtd's files as they are now
                self.durable = (self.ws.json.read_bytes(), self.ws.md.read_bytes())
            except OSError:
                self.durable = None

    def finish(self) -> None:
        self.say("stopping the load")
        self.stop.set()
        for client in self.clients:
            client.join(120)
            if client.is_alive():
                self.findings.violations.append(f"{client.name} did not finish in 120s")
        self.hostile.join(30)
        self.probe.join(30)
        self.scenarios.join(120)
        if self.scenarios.is_alive():
            self.findings.violations.append("the scenarios did not finish in 120s")
        self.say("final: kill -9, clean restart, strict check")
        self.keeper.restart("", plan=self.keeper.choose(limits=False))
        self.checkpoint("final", strict=True)
        self.keeper.stop()
        log = scan_log(self.ws.log_path.read_text(errors="replace"))
        self.log = log
        seen: set[str] = set()
        for tb in log.unexpected_tracebacks:
            same = re.sub(r"^\S+ \S+ ", "", tb)  # the same traceback at another time: once
            if same not in seen:
                seen.add(same)
                self.findings.violations.append(f"[log] unexpected traceback:\n{tb}")
        if self.probe.answered == 0:
            self.findings.violations.append("the probe was never answered")

    # ------------------------------------------------------------ the summary

    def report(self) -> int:
        violations = _dedupe(
            self.findings.violations + self.keeper.violations + self.client_violations
        )
        counters = self.ledger.counters
        stats = self.keeper.stats
        log = getattr(self, "log", None)
        conflicts = _count_files(self.ws, "conflicts") + _count_files(self.ws, "quarantine")
        summary = (
            f"operations={counters.operations} acked={counters.acked} "
            f"crashes={stats.kills + stats.self_exits} faults={len(stats.failpoint_specs)} "
            f"repairs={log.repairs if log else 0} conflicts={conflicts} "
            f"hostile={self.hostile.count} lost={self.findings.lost} "
            f"violations={len(violations)} seed={self.opts.seed}"
        )
        usages = list(stats.usage.values())
        if not self.opts.quiet:
            print(
                f"details: failed={counters.failed} unknown={counters.unknown} "
                f"kills={stats.kills} power_cuts={self.power_cuts} self_exits={stats.self_exits} "
                f"autostarted={stats.autostarted} starts={stats.starts} "
                f"hand_edits={len(self.editor.writes)}+{self.editor.deletes} deletes "
                f"checks={self.findings.checks} probe_answers={self.probe.answered} "
                f"probe_worst={self.probe.worst:.2f}s "
                f"expected_tracebacks={log.expected_tracebacks if log else 0} "
                f"max_fds={max((u.fds_max for u in usages), default=0)} "
                f"max_rss_growth_kib="
                f"{max((u.rss_max_kib - u.rss_first_kib for u in usages), default=0)} "
                + self._scenario_details(),
                file=sys.stderr,
            )
        failed = bool(violations) or self.findings.lost > 0
        if failed:
            for v in violations[:40]:
                print(f"VIOLATION {v}", file=sys.stderr)
            print(
                f"workspace kept at {self.ws.root} (daemon log {self.ws.log_path})", file=sys.stderr
            )
            print(
                f"reproduce: python -m tests.torture.runner --seconds {self.opts.seconds:g} "
                f"--seed {self.opts.seed} --workers {self.opts.workers}"
                + "".join(f" --avoid {a}" for a in sorted(self.opts.avoid))
                + (f" --filler {self.opts.filler}" if self.opts.filler else ""),
                file=sys.stderr,
            )
        print(summary, flush=True)
        self.ws.cleanup(keep=failed)
        return 1 if failed else 0

    def _scenario_details(self) -> str:
        stats = self.keeper.stats
        counts = self.context.counts
        hang = self.hangup.counts if self.hangup is not None else {}
        retried = ",".join(
            f"{name.removeprefix('retry-')}:{counts[name]}" for name in Retries.NAMES
        )
        return (
            f"start_modes={stats.describe_modes()} lowfd_starts={stats.lowfd_starts} "
            f"config_starts={stats.config_starts}"
            f"{'' if self.keeper.config_supported else '(config rejected)'} "
            f"hangups="
            + ",".join(f"{s.removeprefix('hangup-')}:{hang.get(s, 0)}" for s in HangupClient.STYLES)
            + f" second_shell={counts[SecondShell.NAME]}/{self.scenarios.shell.commands}cmds "
            f"retries={retried}(skipped:{counts['retry-skipped']}) "
            f"symlink_traps={counts['symlink']} "
            f"pathological={counts['pathological']}(skipped:{counts['pathological-skipped']}) "
            f"floods={counts['flood']} partial_frames={counts['partial-frame']}"
            f"(skipped:{counts['partial-frame-skipped']}) "
            "fail_codes=" + ",".join(f"{c}:{n}" for c, n in self.ledger.fail_codes.most_common(5))
        )


def _seed(seed: int, part: str) -> int:
    """A seed of its own for each newer ingredient, so that the draws of the older ones
    (hand edits, kills, failpoints, clients, hostiles) stay what a seed always gave."""
    return random.Random(f"{seed}:{part}").randrange(1 << 30)


def _count_files(ws: Workspace, folder: str) -> int:
    root = ws.ecw / folder
    if not root.exists():
        return 0
    return sum(1 for p in root.rglob("*") if p.is_file() and not p.name.endswith(".why.txt"))


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m tests.torture.runner", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to torture")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random)")
    parser.add_argument("--workers", type=int, default=6, help="legitimate clients")
    parser.add_argument("--quiet", action="store_true", help="only the summary line")
    parser.add_argument(
        "--filler",
        type=int,
        default=0,
        metavar="N",
        help="N more tasks in the tracker (2,500 make a JSON over 256 KiB: the commit "
        "path's branch for big trackers)",
    )
    parser.add_argument(
        "--avoid",
        action="append",
        default=[],
        metavar="NAME",
        help="leave out one ingredient (to look past a known bug): " + ", ".join(AVOIDABLE),
    )
    args = parser.parse_args(argv)
    unknown = set(args.avoid) - set(AVOIDABLE)
    if unknown:
        parser.error(f"unknown ingredient(s) to avoid: {', '.join(sorted(unknown))}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    return Options(
        args.seconds,
        seed,
        max(1, args.workers),
        args.quiet,
        frozenset(args.avoid),
        max(0, args.filler),
    )


def main(argv: list[str] | None = None) -> int:
    return Torture(parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
