"""Priority rules: which Run:ai priority classes an environment may use.

Priority decides who is preempted when GPUs run short (Run:ai 2.2x classes,
very-low 25 to very-high 150); `very-high` and `high` run non-preemptible
and so must fit the project's deserved quota.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)
from views import (
    RUNAI_DEFAULT_PRIORITY,
    InferenceView,
    finish,
    inference_view,
    settings,
)

__all__ = ["PRIORITY_POLICIES", "priority_allowed", "priority_matches_preemptibility"]

_STRINGS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}

_ALLOWED_SCHEMA: dict[str, dict[str, Any]] = {
    "allowedPriorities": {
        **_STRINGS,
        "description": "Priority classes inference may use in this environment.",
        "default": ["very-high", "high"],
    },
}


def _choice(view: InferenceView) -> str:
    if view.priority is None:
        return (
            f"sets no priority, so Run:ai gives it its default {RUNAI_DEFAULT_PRIORITY}"
        )
    return f"has priority {view.priority}"


def _check_allowed(args: ResourceValidationArgs, report: ReportViolation) -> None:
    view = inference_view(args.resource_type, args.props, args.name, args.urn)
    if view is None:
        return
    finish(view.pending("priority"))

    allowed = [str(p) for p in settings(args, _ALLOWED_SCHEMA)["allowedPriorities"]]
    if view.effective_priority not in allowed:
        report(
            f"inference {view.name} {_choice(view)}, which this environment does "
            f"not allow; allowed: {', '.join(allowed) or '(none)'}. Set the "
            "inference's priority to one of them.",
            None,
        )


priority_allowed = ResourceValidationPolicy(
    name="inference-priority-allowed",
    description="Inference uses a priority class this environment allows.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps=(
        "Set the inference's `priority` in the stack file to one of the "
        "environment's `allowedPriorities` (policies/config/<env>.json). Without "
        "one, Run:ai uses very-high, which only production may use."
    ),
    validate=_check_allowed,
    config_schema=PolicyConfigSchema(properties=_ALLOWED_SCHEMA),
)

_CLASSES_SCHEMA: dict[str, dict[str, Any]] = {
    "nonPreemptiblePriorities": {
        **_STRINGS,
        "description": "Priority classes Run:ai runs non-preemptible; the rest "
        "are preemptible.",
        "default": ["very-high", "high"],
    },
}


_MODES = ("preemptible", "non-preemptible")


def _mode(preemptible: bool) -> str:
    return "preemptible" if preemptible else "non-preemptible"


def _check_classes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    view = inference_view(args.resource_type, args.props, args.name, args.urn)
    if view is None:
        return
    pending = view.pending("priority", "preemptibility")
    both_set = view.priority is not None and view.preemptibility is not None
    # Only the two plain modes map onto the classes; semi-preemptible (v3)
    # is a deliberate choice between them.
    if pending or not both_set or view.preemptibility not in _MODES:
        finish(pending)
        return

    fixed = settings(args, _CLASSES_SCHEMA)["nonPreemptiblePriorities"]
    expected = _mode(view.effective_priority not in fixed)
    if view.preemptibility != expected:
        report(
            f"inference {view.name}: priority {view.priority} runs {expected} in "
            f"Run:ai, but its preemptibility is {view.preemptibility}; set "
            f"preemptibility to {expected} or choose a priority that runs "
            f"{view.preemptibility}",
            None,
        )


priority_matches_preemptibility = ResourceValidationPolicy(
    name="priority-matches-preemptibility",
    description="Priority and preemptibility agree with Run:ai's priority classes.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "very-high and high are non-preemptible, the other classes preemptible: "
        "set `preemptibility` to match the priority, or leave it out so Run:ai "
        "derives it."
    ),
    validate=_check_classes,
    config_schema=PolicyConfigSchema(properties=_CLASSES_SCHEMA),
)

PRIORITY_POLICIES = [priority_allowed, priority_matches_preemptibility]
