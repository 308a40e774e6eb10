"""The whole `__main__.py` under the SDK's mock runtime, for each stack file."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import PROJECT_DIR
from preflight._runtime import ProgramRun, Registration, run_program
from preflight._stackfile import load_stack_file

TOKEN = "hf_test_token_never_printed"
SERVER_OUTPUTS: dict[str, dict[str, Any]] = {
    "Project": {"projectId": "7", "namespace": "runai-ns", "phase": "Ready"},
    "Credential": {"assetId": "a-1", "kubernetesSecretName": "hf-token-k8s"},
    "DataSource": {"assetId": "a-2", "claimName": "claim-models"},
    "Inference": {
        "workloadId": "w-1",
        "phase": "Running",
        "url": "https://chat.example.invalid",
    },
}


def fake_server(registration: Registration) -> tuple[str | None, dict[str, Any]]:
    if not registration.custom:
        return None, {}
    kind = registration.type.rsplit(":", 1)[-1]
    if registration.type.startswith("kubernetes:"):
        # The Kubernetes provider echoes the object it applied.
        return f"{registration.name}-id", dict(registration.inputs)
    return f"{registration.name}-id", {**registration.inputs, **SERVER_OUTPUTS[kind]}


def run_stack(stack: str) -> ProgramRun:
    secrets = {"runai-hf:hfToken": TOKEN, "runai:clientSecret": "client-secret"}
    if stack == "prod":
        secrets["runai-hf:registryPassword"] = "registry-password"
    stack_file = load_stack_file(PROJECT_DIR, stack).with_secrets(secrets)
    return run_program(PROJECT_DIR, stack_file, fake_server, preview=False)


def one(run: ProgramRun, type_: str, name: str | None = None) -> Registration:
    found = [r for r in run.by_type(type_) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in run.registrations]
    return found[0]


@pytest.mark.parametrize("stack", ["local", "dev", "staging", "prod"])
def test_components_and_their_children(stack: str) -> None:
    run = run_stack(stack)

    components = [r for r in run.registrations if not r.custom]
    kinds = {c.type.rsplit(":", 1)[-1] for c in components}
    assert {"Project", "Credential", "DataSource", "HFInference"} <= kinds
    for component in components:
        children = [r for r in run.registrations if r.parent == component.urn]
        kind = component.type.rsplit(":", 1)[-1].removeprefix("HF")
        expected = f"pulumi-python:dynamic/runai:{kind}"
        if children[0].type.startswith("kubernetes:serving.knative.dev"):
            expected = "kubernetes:serving.knative.dev/v1:Service"
        assert [c.type for c in children] == [expected]
        assert children[0].name == component.name


def test_inference_is_wired_to_project_credential_and_model_store() -> None:
    run = run_stack("prod")

    inference = one(run, "pulumi-python:dynamic/runai:Inference", "chat-llama").inputs
    spec = inference["spec"]
    token = [v for v in spec["environmentVariables"] if v["name"] == "HF_TOKEN"][0]

    assert inference["projectId"] == "7"
    assert token == {
        "name": "HF_TOKEN",
        "secret": {"name": "hf-token-k8s", "key": "HF_TOKEN"},
    }
    assert spec["storage"]["pvc"][0]["claimName"] == "claim-models"
    assert spec["storage"]["pvc"][0]["path"] == "/models"
    assert {"name": "HF_HOME", "value": "/models"} in spec["environmentVariables"]
    assert spec["compute"] == {
        "gpuDevicesRequest": 1,
        "cpuCoreRequest": 4,
        "cpuCoreLimit": 8,
        "cpuMemoryRequest": "32G",
        "cpuMemoryLimit": "48G",
    }
    assert spec["imagePullSecrets"] == [{"name": "hf-token-k8s"}]
    assert spec["autoscaling"] == {
        "minReplicas": 2,
        "maxReplicas": 4,
        "metric": "throughput",
        "metricThreshold": 50,
    }
    assert spec["servingPort"]["authorizationType"] == "authenticatedUsers"
    assert spec["priorityClass"] == "very-high"
    assert spec["preemptibility"] == "non-preemptible"


def test_local_stack_serves_qwen_on_half_a_gpu() -> None:
    run = run_stack("local")

    spec = one(run, "pulumi-python:dynamic/runai:Inference").inputs["spec"]

    assert spec["args"].startswith("Qwen/Qwen2.5-0.5B-Instruct ")
    assert spec["compute"]["gpuPortionRequest"] == 0.5
    assert spec["servingPort"]["container"] == 8000
    assert (spec["priorityClass"], spec["preemptibility"]) == ("medium", "preemptible")


def test_exports_give_endpoint_and_curl() -> None:
    run = run_stack("prod")

    inferences, secret = run.exports["inferences"]
    chat = inferences["chat-llama"]
    assert set(inferences) == {"chat-llama", "chat-mistral"}

    assert not secret
    assert chat["url"] == "https://chat.example.invalid"
    assert chat["workloadId"] == "w-1" and chat["phase"] == "Running"
    assert "https://chat.example.invalid/v1/chat/completions" in chat["curl"]
    assert "Authorization: Bearer" in chat["curl"] and "/api/v1/token" in chat["curl"]


def test_public_endpoint_curl_needs_no_token() -> None:
    chat = run_stack("local").exports["inferences"][0]["chat-qwen"]

    assert "Authorization" not in chat["curl"]


def test_token_is_a_secret_input_and_nowhere_else() -> None:
    run = run_stack("local")

    credential = one(run, "pulumi-python:dynamic/runai:Credential")
    others = [r for r in run.registrations if r is not credential]

    assert credential.inputs["value"]["value"] == TOKEN
    assert credential.inputs["kind"] == "generic-secret"
    assert credential.inputs["value"]["4dabf18193072939515e22adb298388d"]
    assert TOKEN not in repr([r.inputs for r in others] + [run.exports])


def test_missing_token_is_a_config_error() -> None:
    from components.errors import ConfigError

    stack_file = load_stack_file(PROJECT_DIR, "local")

    with pytest.raises(ConfigError, match="runai-hf:hfToken: this secret is not set"):
        run_program(PROJECT_DIR, stack_file, fake_server, preview=False)


def test_registry_password_in_clear_is_refused() -> None:
    from components.errors import ConfigError

    stack_file = load_stack_file(PROJECT_DIR, "prod").with_secrets(
        {"runai-hf:hfToken": TOKEN, "runai:clientSecret": "client-secret"}
    )
    config = {**stack_file.config, "runai-hf:registryPassword": "plain-password"}
    plain = type(stack_file)(
        stack_file.project,
        stack_file.stack,
        stack_file.path,
        config,
        stack_file.secret_keys,
    )

    with pytest.raises(ConfigError) as raised:
        run_program(PROJECT_DIR, plain, fake_server, preview=False)

    assert "runai-hf:registryPassword: holds a plain value" in str(raised.value)
    assert "plain-password" not in str(raised.value)


def test_client_secret_in_clear_is_refused() -> None:
    from components.errors import ConfigError

    stack_file = load_stack_file(PROJECT_DIR, "local").with_secrets(
        {"runai-hf:hfToken": TOKEN}
    )
    config = {**stack_file.config, "runai:clientSecret": "plain-client-secret"}
    plain = type(stack_file)(
        stack_file.project,
        stack_file.stack,
        stack_file.path,
        config,
        stack_file.secret_keys,
    )

    with pytest.raises(ConfigError) as raised:
        run_program(PROJECT_DIR, plain, fake_server, preview=False)

    assert "runai:clientSecret: holds a plain value" in str(raised.value)
    assert "plain-client-secret" not in str(raised.value)
