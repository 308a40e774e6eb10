"""The pack as a whole: what it declares, its config per environment, unknown
values, and the pack started the way the CLI starts it.

The rules themselves are tested per group in test_policies_priority.py,
test_policies_quota.py and test_policies_hygiene.py.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, json_format
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import analyzer_pb2_grpc
from test_policies_support import (
    CLEAN_SPEC,
    body,
    check,
    credential,
    data_source,
    inference,
    of,
    project,
    scaling,
    spec,
)

from conftest import PROJECT_DIR
from preflight.__main__ import main as preflight_main
from preflight._policy import (
    PolicyConfigError,
    analyze,
    configure,
    load_pack,
    make_analyzer,
)

POLICY_NAMES = {
    "inference-priority-allowed",
    "priority-matches-preemptibility",
    "non-preemptible-within-deserved-quota",
    "inference-within-project-limit",
    "rollout-headroom-within-deserved-quota",
    "requests-within-limits",
    "image-tag-pinned",
    "secrets-from-credentials",
    "endpoint-not-public",
    "docker-hub-registry-url",
    "scale-to-zero-metric",
    "serving-timeouts-in-range",
    "no-s3-model-store",
}
STACK_POLICIES = {
    "non-preemptible-within-deserved-quota",
    "inference-within-project-limit",
    "rollout-headroom-within-deserved-quota",
    "no-s3-model-store",
}
ENVIRONMENTS = ("dev", "staging", "prod")


class _Captured(Exception):
    pass


def served_analyzer() -> Any:
    """Run policies/__main__.py for real, stopping where it would start serving."""
    captured: dict[str, Any] = {}

    def capture(servicer: Any, _server: Any) -> None:
        captured["servicer"] = servicer
        raise _Captured

    module = "pulumi_policy.policy"
    with (
        mock.patch(f"{module}.grpc.server"),
        mock.patch(
            f"{module}.analyzer_pb2_grpc.add_AnalyzerServicer_to_server", capture
        ),
        pytest.raises(_Captured),
    ):
        runpy.run_path(
            str(PROJECT_DIR / "policies" / "__main__.py"), run_name="__main__"
        )
    return captured["servicer"]


def test_pack_file_declares_every_policy_with_its_metadata() -> None:
    info = served_analyzer().GetAnalyzerInfo(None, None)

    assert info.name == "runai-hf-guardrails"
    assert {p.name for p in info.policies} == POLICY_NAMES
    for policy in info.policies:
        kind = proto.PolicyType.Name(policy.policy_type)
        stack = policy.name in STACK_POLICIES
        assert kind == ("POLICY_TYPE_STACK" if stack else "POLICY_TYPE_RESOURCE")
        assert policy.description and policy.remediation_steps, policy.name
        assert policy.severity != proto.POLICY_SEVERITY_UNSPECIFIED, policy.name
        properties = json_format.MessageToDict(policy.configSchema.properties)
        assert properties, policy.name
        assert all("default" in p for p in properties.values()), policy.name


def test_the_pack_applies_the_stack_environment_file_by_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CLI starts the pack with the stack's config in PULUMI_CONFIG.
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"runai-hf:environment": "local"}))
    served = served_analyzer()
    owner = project()
    public = spec(
        priorityClass="medium",
        preemptibility=None,
        servingPort={"container": 8000, "authorizationType": "public"},
    )

    found = analyze(configure(served), [owner, inference("chat", public, owner=owner)])

    initial = served.GetAnalyzerInfo(None, None).initialConfig
    assert initial["endpoint-not-public"].enforcementLevel == proto.DISABLED
    assert found == []


def test_pack_version_comes_from_the_manifest() -> None:
    name, version, found = load_pack()

    assert (name, version) == ("runai-hf-guardrails", "0.1.0")
    assert {p.name for p in found} == POLICY_NAMES


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_file_sets_a_level_for_every_policy(env: str) -> None:
    document = json.loads((PROJECT_DIR / f"policies/config/{env}.json").read_text())

    make_analyzer(document)  # the CLI's schema check passes

    levels = {
        name: value if isinstance(value, str) else value["enforcementLevel"]
        for name, value in document.items()
    }
    assert set(levels) == POLICY_NAMES


def test_environment_levels_follow_the_issue() -> None:
    def level(env: str, policy: str) -> str:
        value = json.loads((PROJECT_DIR / f"policies/config/{env}.json").read_text())[
            policy
        ]
        return str(value if isinstance(value, str) else value["enforcementLevel"])

    for env in ENVIRONMENTS:
        assert level(env, "secrets-from-credentials") == "mandatory"
        assert level(env, "inference-priority-allowed") == "mandatory"
    assert level("dev", "image-tag-pinned") == "advisory"
    assert level("prod", "image-tag-pinned") == "mandatory"
    assert level("prod", "endpoint-not-public") == "mandatory"


def test_docs_describe_every_policy_and_config_key() -> None:
    text = (PROJECT_DIR / "docs" / "policies.md").read_text()
    info = make_analyzer().GetAnalyzerInfo(None, None)

    for policy in info.policies:
        assert f"`{policy.name}`" in text, policy.name
        for key in json_format.MessageToDict(policy.configSchema.properties):
            assert f"`{key}`" in text, (policy.name, key)


def test_all_key_sets_every_level_and_a_policy_entry_overrides_it() -> None:
    team = project()
    bad = spec(image="vllm/vllm-openai:latest", priorityClass="medium")

    found = check(
        [team, inference("chat", bad, owner=team)],
        config={"all": "advisory", "image-tag-pinned": "disabled"},
    )

    assert {(v.policy, v.enforcement) for v in found} == {
        ("inference-priority-allowed", "advisory"),
        ("priority-matches-preemptibility", "advisory"),
    }


def test_config_with_an_unknown_policy_or_key_names_the_closest() -> None:
    with pytest.raises(PolicyConfigError) as raised:
        make_analyzer(
            {
                "image-tag-pined": "mandatory",
                "image-tag-pinned": {"requireDigests": True},
            }
        )

    problems = raised.value.problems
    assert "unknown policy 'image-tag-pined' (did you mean 'image-tag-pinned'?)" in (
        problems
    )
    assert (
        "image-tag-pinned: unknown key 'requireDigests' (did you mean "
        "'requireDigest'?)" in problems
    )


def test_config_values_are_checked_against_the_schema() -> None:
    with pytest.raises(PolicyConfigError) as raised:
        make_analyzer(
            {
                "image-tag-pinned": {"requireDigest": "yes"},
                "rollout-headroom-within-deserved-quota": {
                    "enforcementLevel": "strict",
                },
                "non-preemptible-within-deserved-quota": {
                    "gpuMemoryPerNodePool": {"a100": "eighty"}
                },
                "secrets-from-credentials": {"secretNamePattern": "token("},
            }
        )

    text = str(raised.value)
    assert "image-tag-pinned: requireDigest: 'yes' is not of type 'boolean'" in text
    assert "enforcementLevel 'strict' is not one of advisory" in text
    assert "gpuMemoryPerNodePool.a100: 'eighty' does not match" in text
    assert "secretNamePattern: 'token(' is not a 'regex'" in text


def _all_leaves_unknown(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _all_leaves_unknown(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_all_leaves_unknown(item) for item in value]
    return rpc.UNKNOWN


@pytest.mark.parametrize(
    "preview_spec",
    [_all_leaves_unknown(CLEAN_SPEC), rpc.UNKNOWN],
    ids=["every-leaf-unknown", "spec-unknown"],
)
def test_unknown_values_give_advisories_never_a_crash(preview_spec: Any) -> None:
    team = project(quotas=[{"nodePool": rpc.UNKNOWN, "gpu": rpc.UNKNOWN}])
    registry = credential(kind="docker-registry", url=rpc.UNKNOWN)
    store = data_source(kind=rpc.UNKNOWN)
    chat = inference("chat", preview_spec, owner=team, stores=(store,))

    found = check([team, registry, store, chat])

    assert found and {v.enforcement for v in found} == {"advisory"}
    assert all("cannot check until the value is known" in v.message for v in found)


def test_an_unknown_value_names_its_path_and_known_violations_stay() -> None:
    team = project(quotas=[{"nodePool": "a100", "gpu": 4}])
    known = inference(
        "big", spec(autoscaling=scaling(3, 3), priorityClass="very-high"), owner=team
    )
    unsure = inference("unsure", spec(autoscaling=scaling(1, rpc.UNKNOWN)), owner=team)

    found = of(check([team, known, unsure]), "rollout-headroom-within-deserved-quota")

    assert [v.enforcement for v in found] == ["mandatory", "advisory"]
    assert "3 + 3 = 6 > 4" in body(found[0])
    assert found[1].message.endswith(
        "cannot check until the value is known: "
        "inference unsure: spec.autoscaling.maxReplicas"
    )


def test_secret_inputs_reach_the_pack_masked() -> None:
    team = project()
    hidden = rpc.wrap_rpc_secret("hf_marker_value")
    leaky = spec(environmentVariables=[{"name": "HF_TOKEN", "value": hidden}])

    found = check([team, inference("chat", leaky, owner=team)])

    assert [v.policy for v in found] == ["secrets-from-credentials"]
    assert "hf_marker_value" not in found[0].message


def test_pack_served_as_the_cli_starts_it_lists_every_policy() -> None:
    # What the CLI's analyzer shim runs; the engine address is not used.
    stack_config = json.dumps({"runai-hf:environment": "prod"})
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "policies"],
        cwd=PROJECT_DIR,
        env={**os.environ, "PULUMI_CONFIG": stack_config},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int((process.stdout.readline() if process.stdout else "").strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    finally:
        process.kill()
        process.communicate(timeout=10)

    assert info.name == "runai-hf-guardrails"
    assert {p.name for p in info.policies} == POLICY_NAMES
    initial = info.initialConfig["inference-priority-allowed"]
    assert list(initial.properties["allowedPriorities"]) == ["very-high", "high"]


@pytest.fixture
def prod_copy() -> Iterator[tuple[str, Path]]:
    """A copy of the prod stack file under a throwaway stack name."""
    name = "scratch-policies"
    path = PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml"
    shutil.copy(PROJECT_DIR / "stacks" / "Pulumi.prod.yaml", path)
    yield name, path
    path.unlink(missing_ok=True)


def test_prod_copy_past_its_quota_fails_the_preflight_with_the_numbers(
    capsys: pytest.CaptureFixture[str], prod_copy: tuple[str, Path]
) -> None:
    name, path = prod_copy
    document = yaml.safe_load(path.read_text())
    chat = document["config"]["runai-hf:inferences"][0]
    chat["replicas"] = {"min": 2, "max": 8}
    path.write_text(yaml.safe_dump(document))

    status = preflight_main(["--stack", name])

    out = capsys.readouterr().out
    assert status == 1
    assert (
        "[mandatory] non-preemptible-within-deserved-quota: Non-preemptible "
        "inference at max replicas fits the deserved GPUs.: project llm-prod, node "
        "pool a100: non-preemptible inference (chat-llama 8 x 1 GPU) needs 8 GPUs "
        "at max replicas but the deserved quota is 6 (8 > 6)" in out
    )
