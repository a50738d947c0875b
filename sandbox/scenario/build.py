"""Build a sandbox org on disk from a scenario: what `holdfast sandbox serve --scenario FILE` calls.

`build_org(spec, workdir)` creates the org (`Org.empty`), generates it, and leaves beside the System Log and
Reports databases `ground-truth.json` (what an audit must find) and `approved-keys.json` (the hardware-key
registry the policy points at). Earlier artifacts of ours in `workdir` are replaced, never appended to.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.org import Org
from sandbox.scenario.generator import APPROVED_KEYS_FILE, generate
from sandbox.scenario.spec import ScenarioSpec
from sandbox.scenario.truth import GroundTruth, write_ground_truth

GROUND_TRUTH_FILE = "ground-truth.json"
_ARTIFACTS = (
    "systemlog.sqlite",
    "systemlog.sqlite-wal",
    "systemlog.sqlite-shm",
    "reports.sqlite",
    "reports.sqlite-wal",
    "reports.sqlite-shm",
    GROUND_TRUTH_FILE,
    APPROVED_KEYS_FILE,
)


def build_org(spec: ScenarioSpec, workdir: Path) -> tuple[Org, GroundTruth]:
    """A freshly generated org in `workdir` and its ground truth (also written to workdir/ground-truth.json)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in _ARTIFACTS:
        (workdir / name).unlink(missing_ok=True)
    org = Org.empty(workdir, spec.domain)
    try:
        truth = generate(spec, org)
    except BaseException:
        org.close()
        raise
    write_ground_truth(truth, workdir / GROUND_TRUTH_FILE)
    return org, truth
