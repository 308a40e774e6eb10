"""Entry point the Pulumi CLI runs for `--policy-pack policies`: build the pack."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parent))

from guardrails import PACK_NAME, POLICIES, initial_config  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=POLICIES,
    initial_config=initial_config(),
)
