"""Quota rules, per project and node pool, through the real pack (prod config)."""

from __future__ import annotations

from typing import Any

import pytest
from test_policies_support import (
    body,
    check,
    inference,
    of,
    policies,
    project,
    scaling,
    spec,
)

DESERVED = "non-preemptible-within-deserved-quota"
LIMIT = "inference-within-project-limit"
HEADROOM = "rollout-headroom-within-deserved-quota"
REQUESTS = "requests-within-limits"


def one_device(**compute: Any) -> dict[str, Any]:
    return {"gpuDevicesRequest": 1, **compute}


HALF_GPU = one_device(gpuRequestType="portion", gpuPortionRequest=0.5)
GPU_MEMORY_40GI = one_device(gpuRequestType="memory", gpuMemoryRequest="40Gi")


def team(gpu: float, limit: float | None = None, **quota: Any) -> Any:
    entry = {"nodePool": "a100", "gpu": gpu, **quota}
    if limit is not None:
        entry["gpuLimit"] = limit
    return project("team", [entry])


def serving(
    name: str,
    low: int,
    high: int,
    *,
    owner: Any,
    priority: str = "very-high",
    **more: Any,
) -> Any:
    return inference(
        name,
        spec(
            autoscaling=scaling(low, high),
            priorityClass=priority,
            preemptibility=None,
            **more,
        ),
        owner=owner,
    )


def test_two_non_preemptible_inferences_past_deserved_give_the_sum() -> None:
    owner = team(4)
    resources = [
        owner,
        serving("a", 1, 3, owner=owner),
        serving("b", 1, 3, owner=owner, priority="high"),
    ]

    found = of(check(resources), DESERVED)

    assert [(v.enforcement, v.urn) for v in found] == [("mandatory", owner.urn)]
    assert body(found[0]) == (
        "project team, node pool a100: non-preemptible inference (a 3 x 1 GPU, "
        "b 3 x 1 GPU) needs 6 GPUs at max replicas but the deserved quota is 4 "
        "(6 > 4); raise the project's deserved GPUs on a100 to at least 6, or lower "
        "max replicas, GPUs per replica or priority"
    )


def test_preemptible_inference_may_use_over_quota_gpus() -> None:
    owner = team(2)
    resources = [owner, serving("batch", 1, 4, owner=owner, priority="low")]

    assert of(check(resources), DESERVED) == []


def test_a_fraction_counts_replicas_times_portion() -> None:
    owner = team(1)
    resources = [owner, serving("chat", 3, 3, owner=owner, compute=HALF_GPU)]

    found = of(check(resources), DESERVED)

    assert "(chat 3 x 0.5 GPU) needs 1.5 GPUs at max replicas" in body(found[0])
    assert "(1.5 > 1)" in body(found[0])


def test_gpu_memory_counts_as_its_share_of_the_pool_gpu() -> None:
    owner = team(1)
    resources = [owner, serving("chat", 3, 3, owner=owner, compute=GPU_MEMORY_40GI)]

    found = of(check(resources), DESERVED)

    assert "needs 1.5 GPUs at max replicas but the deserved quota is 1" in body(
        found[0]
    )


def test_gpu_memory_on_a_pool_without_a_size_asks_for_the_config() -> None:
    owner = project("team", [{"nodePool": "h100", "gpu": 8}])
    chat = serving(
        "chat", 1, 1, owner=owner, compute=GPU_MEMORY_40GI, nodePools=["h100"]
    )

    found = of(check([owner, chat]), DESERVED)

    assert [v.urn for v in found] == [chat.urn]
    assert 'set gpuMemoryPerNodePool."h100" (for example "80Gi")' in body(found[0])


def test_the_project_default_node_pool_places_an_inference_without_one() -> None:
    owner = project(
        "team",
        [{"nodePool": "a100", "gpu": 8}, {"nodePool": "t4", "gpu": 1}],
        defaultNodePools=["t4"],
    )
    resources = [owner, serving("chat", 2, 2, owner=owner, nodePools=None)]

    found = of(check(resources), DESERVED)

    assert "project team, node pool t4:" in body(found[0])


def test_a_pool_without_quota_has_nothing_deserved() -> None:
    owner = team(8)
    resources = [owner, serving("chat", 1, 1, owner=owner, nodePools=["h100"])]

    found = of(check(resources), DESERVED)

    assert "deserved quota is 0 (the project has no quota on node pool h100)" in body(
        found[0]
    )


def test_all_inference_at_max_must_fit_the_limit() -> None:
    owner = team(2, limit=4)
    resources = [owner, serving("batch", 1, 6, owner=owner, priority="low")]

    found = of(check(resources), LIMIT)

    assert [(v.enforcement, v.urn) for v in found] == [("mandatory", owner.urn)]
    assert body(found[0]) == (
        "project team, node pool a100: inference at max replicas (batch 6 x 1 GPU) "
        "needs 6 GPUs but the project's GPU limit is 4 (6 > 4); raise gpuLimit on "
        "a100 to at least 6, or lower max replicas or GPUs per replica"
    )


def test_no_limit_means_no_limit_check() -> None:
    owner = team(2)
    resources = [owner, serving("batch", 1, 6, owner=owner, priority="low")]

    assert of(check(resources), LIMIT) == []


def test_rollout_of_min_equals_max_needs_a_second_revision() -> None:
    owner = team(4)
    chat = serving("chat", 3, 3, owner=owner)

    found = of(check([owner, chat]), HEADROOM)

    assert [(v.enforcement, v.urn) for v in found] == [("mandatory", chat.urn)]
    assert body(found[0]) == (
        "project team, node pool a100: a rollout of inference chat places its new "
        "revision (3 x 1 GPU = 3 GPUs) before traffic moves, on top of the 3 GPUs "
        "the project runs at max replicas (chat 3 x 1 GPU): it needs 6 GPUs but "
        "the deserved quota is 4 (3 + 3 = 6 > 4), so the update would stay pending "
        "and be rolled back; raise the deserved GPUs on a100 to at least 6 (and "
        "gpuLimit with it), or lower chat's min replicas or max replicas"
    )


def test_rollout_starting_at_one_replica_fits() -> None:
    owner = team(4)

    assert check([owner, serving("chat", 1, 3, owner=owner)]) == []


def test_new_revision_at_max_replicas_is_a_setting() -> None:
    owner = team(4)
    resources = [owner, serving("chat", 1, 3, owner=owner)]

    found = check(resources, config={HEADROOM: {"newRevisionReplicas": "max"}})

    assert "(3 + 3 = 6 > 4)" in body(of(found, HEADROOM)[0])


def test_scale_to_zero_rollout_still_places_one_replica() -> None:
    owner = team(1)
    chat = serving("chat", 0, 1, owner=owner, priority="low")

    found = of(check([owner, chat]), HEADROOM)

    assert "(1 + 1 = 2 > 1)" in body(found[0])


def test_headroom_counts_everything_the_project_runs() -> None:
    owner = team(6)
    resources = [
        owner,
        serving("a", 1, 4, owner=owner),
        serving("b", 2, 2, owner=owner, priority="low"),
    ]

    found = of(check(resources), HEADROOM)

    assert [v.urn.rsplit("::", 1)[1] for v in found] == ["a", "b"]
    assert "(6 + 1 = 7 > 6)" in body(found[0])
    assert "(6 + 2 = 8 > 6)" in body(found[1])


def test_projects_and_pools_are_counted_apart() -> None:
    left = project("left", [{"nodePool": "a100", "gpu": 2}])
    right = project("right", [{"nodePool": "a100", "gpu": 2}])
    resources = [
        left,
        right,
        serving("a", 1, 1, owner=left),
        serving("b", 1, 1, owner=right),
    ]

    assert check(resources) == []


@pytest.mark.parametrize(
    ("compute", "message"),
    [
        (
            {
                "gpuDevicesRequest": 1,
                "gpuRequestType": "portion",
                "gpuPortionRequest": 0.75,
                "gpuPortionLimit": 0.5,
            },
            "gpuPortionRequest 0.75 > gpuPortionLimit 0.5",
        ),
        (
            {
                "gpuDevicesRequest": 1,
                "gpuRequestType": "memory",
                "gpuMemoryRequest": "40Gi",
                "gpuMemoryLimit": "20Gi",
            },
            "gpuMemoryRequest 40Gi > gpuMemoryLimit 20Gi",
        ),
        (
            one_device(cpuCoreRequest=8.0, cpuCoreLimit=4),
            "cpuCoreRequest 8 > cpuCoreLimit 4",
        ),
        (
            one_device(cpuMemoryRequest="64G", cpuMemoryLimit="32Gi"),
            "cpuMemoryRequest 64G > cpuMemoryLimit 32Gi",
        ),
        (
            {**HALF_GPU, "gpuDevicesRequest": 2},
            "2 GPU devices with a fractional GPU request",
        ),
    ],
)
def test_requests_above_their_limits_are_refused(
    compute: dict[str, Any], message: str
) -> None:
    owner = team(8)
    chat = serving("chat", 1, 1, owner=owner, compute=compute)

    found = check([owner, chat])

    assert policies(found) == {(REQUESTS, "mandatory")}
    assert body(found[0]).startswith(f"inference chat: {message}")


def test_requests_within_limits_pass() -> None:
    owner = team(8, limit=8, cpu=16, cpuLimit=32, memory="64G", memoryLimit="128G")
    compute = {
        "gpuDevicesRequest": 1,
        "gpuRequestType": "portion",
        "gpuPortionRequest": 0.5,
        "gpuPortionLimit": 1,
        "cpuCoreRequest": 4,
        "cpuCoreLimit": 4.0,
        "cpuMemoryRequest": "16Gi",
        "cpuMemoryLimit": "32Gi",
    }

    assert check([owner, serving("chat", 1, 1, owner=owner, compute=compute)]) == []


def test_project_deserved_above_its_limit_is_refused() -> None:
    owner = team(6, limit=4)

    found = check([owner])

    assert [(v.policy, v.urn) for v in found] == [(REQUESTS, owner.urn)]
    assert body(found[0]) == (
        "project team, node pool a100: gpu (deserved) 6 > gpuLimit 4; raise the "
        "limit to at least the deserved quota or lower the quota"
    )


def test_limits_can_be_required() -> None:
    owner = team(8)
    compute = {"gpuDevicesRequest": 1, "cpuCoreRequest": 4}
    chat = serving("chat", 1, 1, owner=owner, compute=compute)

    found = check([owner, chat], config={REQUESTS: {"requireLimits": True}})

    assert [body(v) for v in of(found, REQUESTS)] == [
        "inference chat: cpuCoreRequest 4 has no cpuCoreLimit; set one"
    ]


def test_existing_project_without_declared_quotas_is_not_weighed() -> None:
    from preflight._policy import run_policy_pack
    from preflight._runtime import Registration

    project = Registration(
        urn="urn:pulumi:prod::runai-hf::pulumi-python:dynamic/runai:Project::shared",
        type="pulumi-python:dynamic/runai:Project",
        name="shared",
        custom=True,
        parent="",
        dependencies=[],
        inputs={"name": "shared", "existing": True, "quotas": []},
    )
    inference = Registration(
        urn="urn:pulumi:prod::runai-hf::pulumi-python:dynamic/runai:Inference::chat",
        type="pulumi-python:dynamic/runai:Inference",
        name="chat",
        custom=True,
        parent="",
        dependencies=[project.urn],
        inputs={
            "name": "chat",
            "spec": {
                "image": "vllm/vllm-openai:v0.10.2",
                "priorityClass": "very-high",
                "compute": {"gpuDevicesRequest": 1},
                "servingPort": {"authorizationType": "authenticatedUsers"},
            },
        },
    )

    found = run_policy_pack([project, inference])

    assert not [v for v in found if "quota" in v.policy or "headroom" in v.policy]


def test_gpu_memory_is_counted_with_the_stacks_gpu_memory() -> None:
    from preflight._policy import run_policy_pack
    from preflight._runtime import Registration

    project = Registration(
        urn="urn:pulumi:prod::runai-hf::pulumi-python:dynamic/runai:Project::team",
        type="pulumi-python:dynamic/runai:Project",
        name="team",
        custom=True,
        parent="",
        dependencies=[],
        inputs={"name": "team", "quotas": [{"nodePool": "default", "gpu": 1}]},
    )

    def inference(memory: str) -> Registration:
        return Registration(
            urn="urn:pulumi:prod::runai-hf::pulumi-python:dynamic/runai:Inference::c",
            type="pulumi-python:dynamic/runai:Inference",
            name="c",
            custom=True,
            parent="",
            dependencies=[project.urn],
            inputs={
                "name": "c",
                "rollout": {"gpuMemoryPerDevice": "80Gi"},
                "spec": {
                    "image": "vllm/vllm-openai:v0.10.2",
                    "priorityClass": "very-high",
                    "compute": {
                        "gpuDevicesRequest": 1,
                        "gpuRequestType": "memory",
                        "gpuMemoryRequest": memory,
                    },
                    "autoscaling": {"minReplicas": 1, "maxReplicas": 1},
                    "servingPort": {"authorizationType": "authenticatedUsers"},
                },
            },
        )

    fits = run_policy_pack([project, inference("40Gi")])
    too_big = run_policy_pack([project, inference("160Gi")])

    assert not [v for v in fits if v.enforcement == "mandatory"]
    assert any(v.policy == "non-preemptible-within-deserved-quota" for v in too_big)
