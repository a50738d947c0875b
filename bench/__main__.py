"""`make bench`: run the benchmarks (all, or those named) and write bench/results.json.

Each module in BENCHMARKS has `run() -> list[Result]`. Results of benchmarks not run this time are kept
from the previous results.json, so one benchmark can be re-run alone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Result

BENCHMARKS = ("store_ingest", "generate", "containment", "audit_query", "backfill", "audit")
RESULTS = Path(__file__).with_name("results.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"results": []}
    kept = [r for r in previous.get("results", []) if r.get("benchmark") not in names]
    fresh: list[dict[str, object]] = []
    failed = False
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        results: list[Result] = module.run()
        for result in results:
            print(result.line(), flush=True)
            failed |= not result.ok
            fresh.append({"benchmark": name, **result.as_dict()})
    RESULTS.write_text(
        json.dumps(
            {
                "machine": f"{platform.machine()} {platform.python_version()} {platform.node()}",
                "written": datetime.now(UTC).isoformat(timespec="seconds"),
                "results": sorted(kept + fresh, key=lambda r: (str(r["benchmark"]), str(r["name"]))),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
