"""Knative delivery through the whole program: objects, secrets, render, policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pulumi.runtime import rpc
from test_program import TOKEN, one, run_stack

from conftest import PROJECT_DIR
from preflight.__main__ import command_plan, main
from preflight._render import schema_problems
from preflight._runtime import Registration
from preflight._stackfile import StackFile, load_stack_file
from preflight.engine import EngineError, SimulatedEngine

SERVICE = "kubernetes:serving.knative.dev/v1:Service"
CORE_SCHEMA = json.loads(
    (PROJECT_DIR / "tests/schemas/kubernetes-core-v1-minimal.json").read_text()
)


def core_schema(kind: str) -> dict[str, Any]:
    return {"definitions": CORE_SCHEMA["definitions"], **CORE_SCHEMA[kind]}


def unwrapped(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return unwrapped(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {key: unwrapped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrapped(item) for item in value]
    return value


def test_dev_keeps_one_inference_on_the_api_and_one_on_knative() -> None:
    run = run_stack("dev")

    assert [r.name for r in run.by_type("pulumi-python:dynamic/runai:Inference")] == [
        "chat-qwen"
    ]
    service = one(run, SERVICE, "chat-qwen-kn").inputs
    assert schema_problems(service) == []
    assert service["metadata"]["namespace"] == "runai-llm-dev"
    # The knative-only store is a PVC, not a Run:ai data source as well.
    stores = [r.name for r in run.by_type("pulumi-python:dynamic/runai:DataSource")]
    assert stores == ["dev-models"]


def test_secret_and_claim_validate_and_the_token_stays_secret() -> None:
    run = run_stack("dev")
    secret = one(run, "kubernetes:core/v1:Secret")
    claim = one(run, "kubernetes:core/v1:PersistentVolumeClaim")
    service = one(run, SERVICE)

    jsonschema.validate(unwrapped(secret.inputs), core_schema("Secret"))
    jsonschema.validate(claim.inputs, core_schema("PersistentVolumeClaim"))
    assert rpc.is_rpc_secret(secret.inputs["stringData"])
    assert unwrapped(secret.inputs)["stringData"] == {"HF_TOKEN": TOKEN}
    plain = {k: v for k, v in secret.inputs.items() if k != "stringData"}
    assert TOKEN not in json.dumps([plain, service.inputs, claim.inputs])
    token_ref = service.inputs["spec"]["template"]["spec"]["containers"][0]["env"][1]
    assert (
        token_ref["valueFrom"]["secretKeyRef"]["name"]
        == (secret.inputs["metadata"]["name"])
    )


def test_rotated_token_is_a_new_secret_and_a_new_revision() -> None:
    def names(token: str) -> tuple[str, str]:
        stack_file = load_stack_file(PROJECT_DIR, "dev").with_secrets(
            {"runai-hf:hfToken": token, "runai:clientSecret": "s"}
        )
        from preflight.__main__ import plan

        run = plan(stack_file)
        secret = one(run, "kubernetes:core/v1:Secret").inputs["metadata"]["name"]
        template = one(run, SERVICE).inputs["spec"]["template"]
        return secret, template["metadata"]["name"]

    first, second = names("hf_one_aaaaaaaaaaaaaaaa"), names("hf_two_bbbbbbbbbbbbbbbb")

    assert first[0] != second[0] and first[1] != second[1]
    assert names("hf_one_aaaaaaaaaaaaaaaa") == first


def test_exports_carry_url_and_revision() -> None:
    exports, _ = run_stack("dev").exports["inferences"]
    knative = exports["chat-qwen-kn"]

    assert knative["url"] == "http://chat-qwen-kn.runai-llm-dev.svc.cluster.local"
    assert knative["revision"].startswith("chat-qwen-kn-")
    assert knative["delivery"] == "knative"
    assert "Authorization" not in knative["curl"]


def test_render_writes_one_valid_file_per_object_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file = load_stack_file(PROJECT_DIR, "dev").with_secrets(
        {"runai-hf:hfToken": TOKEN}
    )

    status = command_plan(stack_file, as_json=False, render=tmp_path)

    files = sorted(p.name for p in tmp_path.iterdir())
    assert status == 0
    assert len(files) == 3
    assert files[0].startswith(
        "serving.knative.dev_v1-service-runai-llm-dev-chat-qwen-kn"
    )
    text = "".join(p.read_text() for p in tmp_path.iterdir())
    assert TOKEN not in text and TOKEN not in capsys.readouterr().out
    assert "HF_TOKEN: '[secret]'" in text


def test_render_acceptance_from_the_command_line(tmp_path: Path) -> None:
    import yaml

    assert main(["--stack", "dev", "--render", str(tmp_path)]) == 0
    service = next(tmp_path.glob("serving.knative.dev_v1-service-*.yaml"))
    assert schema_problems(yaml.safe_load(service.read_text())) == []


def test_the_plan_lists_the_knative_objects(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "dev"]) == 0
    out = capsys.readouterr().out

    assert "Service                chat-qwen-kn" in out
    assert "PersistentVolumeClaim" in out and "Secret" in out
    assert "clusterLocal" in out


def test_the_local_demo_refuses_knative_delivery_before_applying(
    tmp_path: Path,
) -> None:
    stack_file: StackFile = load_stack_file(PROJECT_DIR, "dev")
    engine = SimulatedEngine(
        program_dir=PROJECT_DIR, stack_file=stack_file, state_path=tmp_path / "s.json"
    )

    with pytest.raises(EngineError) as raised:
        engine.up()

    assert str(raised.value).startswith(
        "runai-hf:inferences[1] (chat-qwen-kn) uses delivery knative: the local demo"
    )
    assert not (tmp_path / "s.json").exists()


def test_registration_type_is_the_custom_resource_token() -> None:
    service: Registration = one(run_stack("dev"), SERVICE)

    assert service.inputs["apiVersion"] == "serving.knative.dev/v1"
    assert service.parent.endswith("HFInference::chat-qwen-kn")
