"""The scenario generator: a deterministic sandbox org with 90 days of history and an injected compromise.

    spec = load_spec(path_or_None, seed=7, people=2000, days=90)
    org, truth = build_org(spec, workdir)   # or: truth = generate(spec, Org.empty(...))

See spec.py for the knobs, generator.py for what is generated, truth.py for the ground-truth vocabulary and
registry.py for the approved hardware-key file.
"""

from sandbox.scenario.build import GROUND_TRUTH_FILE, build_org
from sandbox.scenario.generator import (
    APPROVED_KEYS_FILE,
    GROUP_BREAK_GLASS,
    GROUP_EVERYONE,
    GROUP_RESPONDERS,
    GROUP_VERIFIERS,
    IT_CHANNEL_ID,
    IT_CHANNEL_NAME,
    OKTA_MAIL_SENDER,
    SUBJECT_ADMIN_RESET,
    SUBJECT_SELF_RESET,
    generate,
)
from sandbox.scenario.registry import ApprovedKey, ApprovedKeyRegistry, read_registry
from sandbox.scenario.spec import CompromiseSpec, NoiseSpec, ScenarioError, ScenarioSpec, load_spec
from sandbox.scenario.truth import (
    AccountTruth,
    ActorKind,
    Corroboration,
    DecoyTruth,
    GroundTruth,
    ProtectedTruth,
    Reason,
    Tier,
    read_ground_truth,
    write_ground_truth,
)

__all__ = [
    "APPROVED_KEYS_FILE",
    "GROUND_TRUTH_FILE",
    "GROUP_BREAK_GLASS",
    "GROUP_EVERYONE",
    "GROUP_RESPONDERS",
    "GROUP_VERIFIERS",
    "IT_CHANNEL_ID",
    "IT_CHANNEL_NAME",
    "OKTA_MAIL_SENDER",
    "SUBJECT_ADMIN_RESET",
    "SUBJECT_SELF_RESET",
    "AccountTruth",
    "ActorKind",
    "ApprovedKey",
    "ApprovedKeyRegistry",
    "CompromiseSpec",
    "Corroboration",
    "DecoyTruth",
    "GroundTruth",
    "NoiseSpec",
    "ProtectedTruth",
    "Reason",
    "ScenarioError",
    "ScenarioSpec",
    "Tier",
    "build_org",
    "generate",
    "load_spec",
    "read_ground_truth",
    "read_registry",
    "write_ground_truth",
]
