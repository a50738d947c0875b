"""Scenario generation: how long a sandbox org with its history takes to build, and how much memory it needs.

Cases and bounds (the org is rebuilt before every rehearsal, so it must be quick):
- 2,000 people x 90 days, with System Log and Reports: <= 60 s;
- 10,000 people x 90 days (a few million Okta events): <= 600 s;
- 100,000 people without logs (containment scale: users, factors, Slack only): <= 120 s.
Each case runs in a fresh child process so its peak RSS (resource.getrusage) is its own.
Run: `make bench` or `.venv/bin/python -m bench generate` (one case: `python -m bench.generate --one NAME`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result

# name -> (people, days, log_events, bound in seconds)
CASES: dict[str, tuple[int, int, bool, float]] = {
    "generate 2,000 people x 90 days": (2_000, 90, True, 60.0),
    "generate 10,000 people x 90 days": (10_000, 90, True, 600.0),
    "generate 100,000 people without logs": (100_000, 90, False, 120.0),
}


def measure(name: str) -> dict[str, float]:
    """Build one case in a temporary directory (in this process) and report what it cost."""
    from sandbox.scenario import ScenarioSpec, build_org

    people, days, logs, _ = CASES[name]
    spec = ScenarioSpec(seed=2022, people=people, days=days, log_events=logs)
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-") as tmp:
        started, cpu = time.perf_counter(), time.process_time()
        org, truth = build_org(spec, Path(tmp))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        org.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "okta_events": truth.okta_events,
        "google_activities": truth.google_activities,
        "accounts": len(truth.accounts),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "disk_mb": size / 2**20,
    }


def run(names: list[str] | None = None) -> list[Result]:
    results = []
    for name in names or list(CASES):
        bound = CASES[name][3]
        child = subprocess.run(
            [sys.executable, "-m", "bench.generate", "--one", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(f"{name} failed (exit {child.returncode}):\n{child.stderr[-3000:]}")
        m = json.loads(child.stdout.strip().splitlines()[-1])
        rate = m["okta_events"] / m["seconds"] if m["seconds"] else 0.0
        note = (
            f"{m['okta_events']:,.0f} Okta events + {m['google_activities']:,.0f} Google activities, "
            f"{rate:,.0f} Okta events/s, cpu {m['cpu_seconds']:,.1f} s, peak RSS {m['peak_rss_mb']:,.0f} MB, "
            f"disk {m['disk_mb']:,.0f} MB, {m['accounts']:,.0f} accounts to find"
        )
        results.append(Result(name=name, value=round(m["seconds"], 2), bound=bound, unit="s", note=note))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate")
    parser.add_argument("--one", choices=list(CASES), help="measure one case here and print it as JSON")
    parser.add_argument("names", nargs="*", choices=[[], *CASES], help="cases to run (default: all)")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one)))
        return 0
    failed = False
    for result in run(args.names or None):
        print(result.line(), flush=True)
        failed |= not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
