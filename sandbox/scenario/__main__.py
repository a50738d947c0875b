"""Build a sandbox org on disk: `python -m sandbox.scenario --workdir DIR [--scenario FILE] [--seed N] ...`.

Prints a one-line JSON summary (counts and file paths). The server is started elsewhere
(`holdfast sandbox serve`); this only generates.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from sandbox.scenario.build import GROUND_TRUTH_FILE, build_org
from sandbox.scenario.generator import APPROVED_KEYS_FILE
from sandbox.scenario.spec import ScenarioError, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.scenario", description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True, help="where the org's files are written")
    parser.add_argument("--scenario", type=Path, default=None, help="scenario JSON (default: January 2022)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--people", type=int, default=None)
    parser.add_argument("--days", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.scenario, seed=args.seed, people=args.people, days=args.days)
    except ScenarioError as err:
        print(err, file=sys.stderr)
        return 2
    started = time.perf_counter()
    org, truth = build_org(spec, args.workdir)
    org.close()
    summary = {
        "scenario": spec.name,
        "seed": spec.seed,
        "people": truth.people,
        "okta_events": truth.okta_events,
        "google_activities": truth.google_activities,
        "accounts": len(truth.accounts),
        "tiers": dict(sorted(Counter(a.tier.value for a in truth.accounts).items())),
        "decoys": len(truth.decoys),
        "seconds": round(time.perf_counter() - started, 1),
        "ground_truth": str(args.workdir / GROUND_TRUTH_FILE),
        "approved_keys": str(args.workdir / APPROVED_KEYS_FILE),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
