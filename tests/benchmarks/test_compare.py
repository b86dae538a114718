"""The comparison benchmark's instrument itself (``scripts/benchmarks compare``).

Part of the default run: the harness runs in ``--quick`` mode with tiny job counts,
against ours, then against the peers when their venvs are cached or installable, and
its table, JSON file and chart are checked. The figures themselves mean nothing at
this size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.benchmarks.compare import harness, report

REPO = Path(__file__).resolve().parents[2]
JOBS = 10
# Each run takes well under 30 s on a quiet 2-core box, several times that on a
# loaded one.
TIMEOUT = 280
pytestmark = pytest.mark.timeout(TIMEOUT + 20)
WORKER_WORKLOADS = {"worker-async", "worker-sync", "finished"}


def compare(
    tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    output = tmp_path / "results"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.compare",
            "--quick",
            "--jobs",
            str(JOBS),
            "--finished-rows",
            "1000",
            "--output",
            str(output),
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    return result, output


def databases_left(prefix: str) -> list[str]:
    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            (f"{prefix}_",),
        ).fetchall()
    return [name for (name,) in rows]


def check_results(
    result: subprocess.CompletedProcess[str],
    output: Path,
    contestants: list[str],
    repeat: int,
) -> dict[str, Any]:
    """What every comparison writes, whoever the contestants."""
    assert result.returncode == 0, result.stderr
    table = (output / "table.md").read_text()
    assert table in result.stdout
    lines = table.splitlines()
    assert lines[0] == f"| metric | {' | '.join(contestants)} | target (ours) | met |"
    assert len(lines) == 2 + len(report.METRICS)
    assert (output / "chart.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    results = json.loads((output / "results.json").read_text())
    assert results["contestants"] == contestants
    assert results["meta"]["repeat"] == repeat
    assert results["meta"]["server"]["synchronous_commit"] == "on"
    assert databases_left(results["meta"]["database_prefix"]) == []
    assert set(results["meta"]["versions"]) == set(contestants)
    assert [row["metric"] for row in results["summary"]] == [
        metric.label for metric in report.METRICS
    ]
    for run in results["runs"]:
        assert run["jobs"] == JOBS
        assert run["seconds"] > 0
        if run["workload"] in WORKER_WORKLOADS:
            assert run["cpu_seconds"] > 0
            # The counters of the measured window reached the harness.
            assert run["transactions"] > 0
        if run["workload"] == "latency":
            assert 0 < run["p50_ms"] <= run["p99_ms"]
            assert run["transactions"] is None
    return dict(results)


def test_compare_ours(tmp_path: Path) -> None:
    result, output = compare(tmp_path, "--contestants", "ours", "--repeat", "1")

    results = check_results(result, output, ["ours"], repeat=1)
    assert [run["workload"] for run in results["runs"]] == list(harness.WORKLOADS)
    for row in results["summary"]:
        figures = row["figures"]["ours"]
        assert len(figures["values"]) == 1
        assert figures["min"] == figures["median"] == figures["max"]
    verdicts = {row["metric"]: row["met"] for row in results["summary"]}
    # Without pgqueuer in the run, and at 1,000 finished jobs, not judged.
    assert verdicts[report.METRICS[0].label] is None
    assert verdicts[report.METRICS[-1].label] is None
    # The other targets are judged: at 10 jobs, the worker's rate misses its own.
    assert verdicts[report.METRICS[1].label] is False


def test_compare_against_a_baseline_commit(tmp_path: Path) -> None:
    result, output = compare(
        tmp_path,
        *("--contestants", "ours", "--baseline", "HEAD", "--repeat", "1"),
        *("--workloads", "defer-one,batch-defer"),
    )

    assert result.returncode == 0, result.stderr
    results = json.loads((output / "results.json").read_text())
    assert results["contestants"] == ["ours@HEAD", "ours"]
    assert "| metric | ours@HEAD | ours | target (ours) | met |" in result.stdout
    assert databases_left(results["meta"]["database_prefix"]) == []
    commit = results["meta"]["versions"]["ours@HEAD"]
    # The baseline's package was imported from its extracted source.
    assert (REPO / ".tmp" / "baseline" / commit / "procrastinate").is_dir()
    assert [(run["contestant"], run["workload"]) for run in results["runs"]] == [
        ("ours@HEAD", "defer-one"),
        ("ours", "defer-one"),
        ("ours@HEAD", "batch-defer"),
        ("ours", "batch-defer"),
    ]


def test_compare_with_peers(tmp_path: Path) -> None:
    try:
        for name in ("procrastinate-3.10", "pgqueuer-1.6"):
            harness.CONTESTANTS[name].python()
    except harness.HarnessError as error:
        pytest.skip(
            f"peer venvs not installable (is the package index reachable?): {error}"
        )
    # Ours is measured by the test above; the peers alone keep this one short.
    contestants = ["procrastinate-3.10", "pgqueuer-1.6"]

    result, output = compare(
        tmp_path, "--repeat", "1", "--contestants", ",".join(contestants)
    )

    results = check_results(result, output, contestants, repeat=1)
    # Interleaved: each workload runs on every contestant before the next workload.
    assert [run["contestant"] for run in results["runs"][:2]] == contestants
    assert results["meta"]["versions"] == {
        "procrastinate-3.10": "3.10.0",
        "pgqueuer-1.6": "1.6.0",
    }
    finished = results["summary"][-1]
    assert set(finished["figures"]) == {"procrastinate-3.10"}
    assert "| - |" in (output / "table.md").read_text().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workloads", "nope"], "error: unknown workload nope: choose among"),
        (["--repeat", "0"], "error: --repeat must be at least 1, not 0"),
        (["--repeat", "x"], "error: argument --repeat: invalid int value: 'x'"),
        (
            ["--baseline", "no-such-ref"],
            "error: --baseline 'no-such-ref' is not a commit of this repository",
        ),
    ],
)
def test_compare_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result, output = compare(tmp_path, *args)

    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1
    assert not output.exists()


def test_figures_median_and_range() -> None:
    assert report.Figures((3.0, 1.0, 2.5)).text(1) == "2.5 (1.0-3.0)"
    assert report.Figures((1_234.0, 1_234.0)).text(0) == "1,234"
    assert report.Figures((2.0, 4.0)).as_dict() == {
        "median": 3.0,
        "min": 2.0,
        "max": 4.0,
        "values": [2.0, 4.0],
    }


def run(contestant: str, workload: str, seconds: float) -> harness.Run:
    return harness.Run(contestant, workload, 0, 1_000, seconds, 0.1, 100, 1.0)


def test_verdict_needs_pgqueuer_beaten_by_the_factor() -> None:
    """10,000 jobs/s meets the 6,000 floor, but only beats pgqueuer by 2.5 when
    pgqueuer does at most 4,000."""
    worker = report.METRICS[0]
    alone = report.figures(worker, [run("ours", "worker-async", 0.1)])
    close = report.figures(
        worker,
        [run("ours", "worker-async", 0.1), run(report.PEER, "worker-async", 0.24)],
    )
    far = report.figures(
        worker,
        [run("ours", "worker-async", 0.1), run(report.PEER, "worker-async", 0.26)],
    )

    assert report.verdict(worker, alone, 0) is None
    assert report.verdict(worker, close, 0) is False
    assert report.verdict(worker, far, 0) is True
