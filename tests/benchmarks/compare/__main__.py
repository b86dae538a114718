"""Command line of the comparison benchmark; see ``--help``."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import psycopg

from tests.benchmarks.compare import harness, report

REPO = Path(__file__).resolve().parents[3]


class Parser(argparse.ArgumentParser):
    """Bad options are one line of error and exit code 1, as everywhere else."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message} (see --help)\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options of the command line."""
    parser = Parser(
        prog="scripts/benchmarks compare",
        description=(
            "Run the workloads of issue 14 against ours, procrastinate 3.10 and "
            "pgqueuer 1.6, interleaved, each run on a fresh database; print the table "
            "of medians and write it with the raw results and a chart."
        ),
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions of each run (default: 3)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer jobs, and 100,000 finished jobs instead of 10 million",
    )
    parser.add_argument("--jobs", type=int, help="jobs of every workload")
    parser.add_argument("--finished-rows", type=int, help="finished jobs in the table")
    parser.add_argument(
        "--contestants",
        default=",".join(harness.CONTESTANTS),
        help="comma-separated, among: %(default)s",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(harness.WORKLOADS),
        help="comma-separated, among: %(default)s",
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help=(
            "also run this repository's package as of the git commit REF (e.g. main), "
            "first in each round, as contestant ours@REF: an A/B of a change"
        ),
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="results folder (default: .benchmarks/compare/<UTC date and time>)",
    )
    return parser.parse_args(argv)


def chosen(value: str, known: Any, what: str) -> list[str]:
    """The names of a comma-separated option.

    :raises HarnessError: when one is unknown, or none is given.
    """
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise harness.HarnessError(
            f"unknown {what} {', '.join(unknown) or '(none given)'}: "
            f"choose among {', '.join(known)}"
        )
    return names


def counts(args: argparse.Namespace) -> harness.Counts:
    """The job counts that the options ask for.

    :raises HarnessError: when one is below 1.
    """
    base = harness.QUICK if args.quick else harness.Counts()
    if args.jobs is not None:
        base = dataclasses.replace(
            base,
            worker=args.jobs,
            defer_one=args.jobs,
            batch_defer=args.jobs,
            latency=args.jobs,
        )
    if args.finished_rows is not None:
        base = dataclasses.replace(base, finished_rows=args.finished_rows)
    for name, value in dataclasses.asdict(base).items():
        if value < 1:
            raise harness.HarnessError(f"{name} must be at least 1, not {value}")
    return base


def cpu_model() -> str:
    """The processor's name, for the description of the box."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def stop(signum: int, frame: object) -> None:
    """Turn a termination signal into an error, so that the databases are dropped."""
    raise harness.HarnessError(f"stopped by signal {signum}")


def main(argv: list[str]) -> int:
    """Run the comparison; 0 when it went through, 1 with one line of error."""
    args = parse_args(argv)
    # Stopped from outside, the run still drops its databases on the way out.
    signal.signal(signal.SIGTERM, stop)
    try:
        if args.repeat < 1:
            raise harness.HarnessError(
                f"--repeat must be at least 1, not {args.repeat}"
            )
        contestants = chosen(args.contestants, harness.CONTESTANTS, "contestant")
        measured = [harness.CONTESTANTS[name] for name in contestants]
        if args.baseline:
            measured.insert(0, harness.baseline(args.baseline))
            contestants.insert(0, measured[0].name)
        workloads = chosen(args.workloads, harness.WORKLOADS, "workload")
        jobs = counts(args)
        started = datetime.datetime.now(datetime.timezone.utc)
        output = args.output or REPO / ".benchmarks" / "compare" / started.strftime(
            "%Y%m%dT%H%M%SZ"
        )
        bench = harness.Harness(jobs)
        settings = harness.server_settings()
        load_before = os.getloadavg()
        runs = bench.compare(measured, workloads, args.repeat)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except (harness.HarnessError, psycopg.OperationalError) as error:
        print(f"error: {error}".splitlines()[0], file=sys.stderr)
        return 1
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "box": {
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "memory_gib": round(
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
            ),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "server": settings,
        "database_prefix": bench.databases.prefix,
        "versions": bench.versions(),
        "repeat": args.repeat,
        "workloads": workloads,
        "counts": dataclasses.asdict(jobs),
    }
    results = report.write(output, runs, contestants, meta)
    print(report.markdown(results["summary"], contestants), end="")
    print(f"\nresults: {output}/table.md, results.json, chart.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
