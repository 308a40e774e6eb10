"""The real policy pack, through pulumi-policy's analyzer interface, in process."""

from __future__ import annotations

import runpy
from typing import Any
from unittest import mock

import pytest
from conftest import PROJECT_DIR
from pulumi.runtime import proto

from preflight._policy import run_policy_pack
from preflight._runtime import Registration

INFERENCE = "pulumi-python:dynamic/runai:Inference"
PROJECT = "pulumi-python:dynamic/runai:Project"


class _Captured(Exception):
    pass


def load_pack() -> Any:
    """Run policies/__main__.py for real, stopping where it would start serving."""
    import pulumi_policy.policy as policy_module

    captured: dict[str, Any] = {}

    def capture(servicer: Any, _server: Any) -> None:
        captured["servicer"] = servicer
        raise _Captured

    with (
        mock.patch.object(policy_module.grpc, "server"),
        mock.patch.object(
            policy_module.analyzer_pb2_grpc, "add_AnalyzerServicer_to_server", capture
        ),
        pytest.raises(_Captured),
    ):
        runpy.run_path(
            str(PROJECT_DIR / "policies" / "__main__.py"), run_name="__main__"
        )
    return captured["servicer"]


def inference(name: str, spec: dict[str, Any], project_urn: str = "") -> Registration:
    return Registration(
        urn=f"urn:pulumi:dev::runai-hf::{INFERENCE}::{name}",
        type=INFERENCE,
        name=name,
        custom=True,
        parent="",
        dependencies=[project_urn] if project_urn else [],
        inputs={"name": name, "spec": spec},
    )


def project(name: str, quotas: list[dict[str, Any]]) -> Registration:
    return Registration(
        urn=f"urn:pulumi:dev::runai-hf::{PROJECT}::{name}",
        type=PROJECT,
        name=name,
        custom=True,
        parent="",
        dependencies=[],
        inputs={"name": name, "quotas": quotas},
    )


def test_pack_file_builds_the_named_policies() -> None:
    servicer = load_pack()

    info = servicer.GetAnalyzerInfo(None, None)

    assert info.name == "runai-hf-guardrails"
    assert {p.name for p in info.policies} == {
        "hf-token-from-credential",
        "priority-matches-preemptibility",
        "non-preemptible-within-deserved-quota",
    }
    kinds = {proto.PolicyType.Name(p.policy_type) for p in info.policies}
    assert kinds == {"POLICY_TYPE_RESOURCE", "POLICY_TYPE_STACK"}


def test_literal_token_is_a_mandatory_violation() -> None:
    spec = {"environmentVariables": [{"name": "HF_TOKEN", "value": "hf_abc"}]}

    found = run_policy_pack([inference("chat", spec)])

    assert [(v.policy, v.enforcement) for v in found] == [
        ("hf-token-from-credential", "mandatory")
    ]
    assert "hf_abc" not in found[0].message


def test_priority_and_preemptibility_must_agree() -> None:
    spec = {"priorityClass": "very-high", "preemptibility": "preemptible"}

    found = run_policy_pack([inference("chat", spec)])

    assert [(v.policy, v.enforcement) for v in found] == [
        ("priority-matches-preemptibility", "advisory")
    ]


def test_non_preemptible_demand_counts_max_replicas_against_deserved() -> None:
    team = project("team", [{"nodePool": "default", "gpu": 3}])
    spec = {
        "priorityClass": "high",
        "compute": {"gpuDevicesRequest": 1},
        "autoscaling": {"minReplicas": 2, "maxReplicas": 4, "metric": "throughput"},
    }

    found = run_policy_pack([team, inference("chat", spec, team.urn)])

    assert [v.policy for v in found] == ["non-preemptible-within-deserved-quota"]
    assert (
        "needs 4 GPUs at max replicas but the deserved quota is 3" in found[0].message
    )
    assert found[0].urn == team.urn


def test_preemptible_inference_may_use_over_quota() -> None:
    team = project("team", [{"nodePool": "default", "gpu": 0}])
    spec = {"priorityClass": "low", "compute": {"gpuDevicesRequest": 4}}

    assert run_policy_pack([team, inference("batch", spec, team.urn)]) == []


def test_pack_config_can_turn_a_policy_off() -> None:
    spec = {"environmentVariables": [{"name": "HF_TOKEN", "value": "hf_abc"}]}

    found = run_policy_pack(
        [inference("chat", spec)],
        pack_config={"hf-token-from-credential": "disabled"},
    )

    assert found == []
