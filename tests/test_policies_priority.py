"""Priority rules, through the real pack with each environment's config file."""

from __future__ import annotations

import pytest
from test_policies_support import body, check, inference, of, policies, project, spec

ALLOWED = "inference-priority-allowed"
CLASSES = "priority-matches-preemptibility"


def test_prod_refuses_medium_naming_the_inference_and_the_allowed_list() -> None:
    team = project()
    chat = inference("chat", spec(priorityClass="medium", preemptibility=None))

    found = check([team, chat], "prod")

    assert policies(found) == {(ALLOWED, "mandatory")}
    assert body(found[0]) == (
        "inference chat has priority medium, which this environment does not "
        "allow; allowed: very-high, high. Set the inference's priority to one of "
        "them."
    )


@pytest.mark.parametrize(
    ("env", "priority"),
    [("prod", "very-high"), ("staging", "medium-high"), ("dev", "medium")],
)
def test_each_environment_takes_its_own_priorities(env: str, priority: str) -> None:
    team = project()
    chat = inference("chat", spec(priorityClass=priority, preemptibility=None))

    assert of(check([team, chat], env), ALLOWED) == []


def test_dev_keeping_the_runai_default_is_told_to_choose() -> None:
    team = project()
    chat = inference("chat", spec(priorityClass=None, preemptibility=None))

    found = check([team, chat], "dev")

    assert policies(found) == {(ALLOWED, "mandatory")}
    assert "sets no priority, so Run:ai gives it its default very-high" in body(
        found[0]
    )
    assert "allowed: high, medium-high, medium, medium-low, low, very-low" in body(
        found[0]
    )


def test_allowed_priorities_come_from_the_config() -> None:
    team = project()
    chat = inference("chat", spec(priorityClass="low", preemptibility=None))

    found = check([team, chat], config={ALLOWED: {"allowedPriorities": ["low"]}})

    assert of(found, ALLOWED) == []


@pytest.mark.parametrize(
    ("env", "level"),
    [("prod", "mandatory"), ("staging", "mandatory"), ("dev", "advisory")],
)
def test_very_high_but_preemptible_disagrees_with_runai(env: str, level: str) -> None:
    team = project()
    chat = inference("chat", spec(priorityClass="high", preemptibility="preemptible"))

    found = check([team, chat], env)

    assert policies(found) == {(CLASSES, level)}
    assert body(found[0]) == (
        "inference chat: priority high runs non-preemptible in Run:ai, but its "
        "preemptibility is preemptible; set preemptibility to non-preemptible or "
        "choose a priority that runs preemptible"
    )


@pytest.mark.parametrize(
    ("priority", "preemptibility"),
    [
        ("medium-high", "preemptible"),
        ("very-high", "non-preemptible"),
        ("high", None),
        ("very-high", "semi-preemptible"),
    ],
)
def test_agreeing_or_unset_preemptibility_passes(
    priority: str, preemptibility: str | None
) -> None:
    team = project()
    chat = inference(
        "chat", spec(priorityClass=priority, preemptibility=preemptibility)
    )

    assert of(check([team, chat], "staging"), CLASSES) == []
