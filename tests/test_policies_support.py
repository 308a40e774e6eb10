"""Builders for the policy tests: resources shaped like the program's, and runs.

Every run goes through the real pack and pulumi-policy's analyzer servicer
(`Analyze` per resource, `AnalyzeStack` for the stack, config reconciled as
the CLI does), with an environment's `policies/config/<env>.json` or a given
config. No tests live here.
"""

from __future__ import annotations

import copy
from typing import Any

from conftest import PROJECT_DIR
from preflight._policy import Violation, load_pack_config, run_policy_pack
from preflight._runtime import Registration

RUNAI = "pulumi-python:dynamic/runai:"
INFERENCE = RUNAI + "Inference"
PROJECT = RUNAI + "Project"
CREDENTIAL = RUNAI + "Credential"
DATA_SOURCE = RUNAI + "DataSource"

# Fits every rule in every environment: pinned image, token from a secret,
# signed-in users, one whole GPU, one replica, timeouts in range.
CLEAN_SPEC: dict[str, Any] = {
    "image": "vllm/vllm-openai:v0.10.2",
    "priorityClass": "high",
    "preemptibility": "non-preemptible",
    "compute": {"gpuDevicesRequest": 1},
    "autoscaling": {"minReplicas": 1, "maxReplicas": 1},
    "environmentVariables": [
        {"name": "HF_HOME", "value": "/models"},
        {"name": "HF_TOKEN", "secret": {"name": "hf-token-secret", "key": "HF_TOKEN"}},
    ],
    "servingPort": {
        "container": 8000,
        "protocol": "http",
        "authorizationType": "authenticatedUsers",
    },
    "servingConfiguration": {"initializationTimeoutSeconds": 1800},
    "nodePools": ["a100"],
    "storage": {"pvc": [{"name": "model-store", "claimName": "c", "path": "/m"}]},
}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::runai-hf::{type_}::{name}"


def _registration(
    type_: str, name: str, inputs: dict[str, Any], dependencies: list[str]
) -> Registration:
    return Registration(
        urn=urn(type_, name),
        type=type_,
        name=name,
        custom=True,
        parent="",
        dependencies=dependencies,
        inputs=inputs,
    )


def spec(**changes: Any) -> dict[str, Any]:
    """CLEAN_SPEC with top-level keys replaced (None removes one)."""
    result = copy.deepcopy(CLEAN_SPEC)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def scaling(low: Any, high: Any, **more: Any) -> dict[str, Any]:
    return {"minReplicas": low, "maxReplicas": high, **more}


def project(
    name: str = "team",
    quotas: list[dict[str, Any]] | None = None,
    **props: Any,
) -> Registration:
    quotas = quotas if quotas is not None else [{"nodePool": "a100", "gpu": 8}]
    inputs = {"name": name, "clusterId": "c", "quotas": quotas, **props}
    return _registration(PROJECT, name, inputs, [])


def inference(
    name: str,
    inference_spec: dict[str, Any] | None = None,
    *,
    owner: Registration | None = None,
    stores: tuple[Registration, ...] = (),
    **props: Any,
) -> Registration:
    inputs = {
        "name": name,
        "project": owner.name if owner else "team",
        "projectId": "1",
        "credential": "hf-token",
        "modelStore": stores[0].name if stores else "model-store",
        "model": "Qwen/Qwen2.5-0.5B-Instruct",
        "server": "vllm",
        "spec": inference_spec if inference_spec is not None else spec(),
        **props,
    }
    dependencies = [r.urn for r in (owner, *stores) if r is not None]
    return _registration(INFERENCE, name, inputs, dependencies)


def credential(name: str = "registry", **props: Any) -> Registration:
    inputs = {"name": name, "kind": "generic-secret", "key": "HF_TOKEN", **props}
    return _registration(CREDENTIAL, name, inputs, [])


def data_source(name: str = "model-store", **props: Any) -> Registration:
    inputs = {"name": name, "kind": "pvc", "path": "/models", "size": "50Gi", **props}
    return _registration(DATA_SOURCE, name, inputs, [])


def check(
    resources: list[Registration],
    env: str = "prod",
    config: dict[str, Any] | None = None,
) -> list[Violation]:
    """The pack's diagnostics with `env`'s config file, or `config` instead."""
    pack_config = (
        config
        if config is not None
        else load_pack_config(PROJECT_DIR / "policies", env)
    )
    return run_policy_pack(resources, pack_config=pack_config)


def of(found: list[Violation], policy: str) -> list[Violation]:
    return [v for v in found if v.policy == policy]


def policies(found: list[Violation]) -> set[tuple[str, str]]:
    return {(v.policy, v.enforcement) for v in found}


def body(violation: Violation) -> str:
    """The message without the policy description pulumi-policy puts first."""
    return violation.message.split("\n", 1)[-1]
