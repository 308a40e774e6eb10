"""Which change is a rolling update and which a replacement, held to the API spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components._providers import (
    INFERENCE_UPDATABLE_SPEC_FIELDS,
    CredentialProvider,
    DataSourceProvider,
    InferenceProvider,
    ProjectProvider,
)
from components._providers._base import secret_digest
from components._providers.project import _PUT_FIELDS, PROJECT_API_FIELDS
from emulator._spec import schema_properties

CREATE_ONLY_SPEC_FIELDS = frozenset(schema_properties("InferenceSpecSpec")) - frozenset(
    schema_properties("InferenceUpdateRequest", "spec")
)

BASE_SPEC: dict[str, Any] = {
    "image": "vllm/vllm-openai:v0.10.2",
    "args": "m --port 8000",
    "compute": {"gpuDevicesRequest": 1},
    "autoscaling": {"minReplicas": 1, "maxReplicas": 1},
    "servingPort": {
        "container": 8000,
        "protocol": "http",
        "authorizationType": "public",
    },
}


def inference(**spec: Any) -> dict[str, Any]:
    return {
        "name": "chat-abcde",
        "logicalName": "chat",
        "namePinned": False,
        "projectId": "1",
        "clusterId": "c",
        "spec": {**copy.deepcopy(BASE_SPEC), **spec},
    }


def test_create_only_inference_fields_come_from_the_document() -> None:
    assert len(CREATE_ONLY_SPEC_FIELDS) == 9
    assert CREATE_ONLY_SPEC_FIELDS == {
        "annotations",
        "exposedUrls",
        "labels",
        "ports",
        "relatedUrls",
        "security",
        "servingPort",
        "storage",
        "tolerations",
    }


@pytest.mark.parametrize("field", sorted(INFERENCE_UPDATABLE_SPEC_FIELDS))
def test_updatable_inference_field_rolls(field: str) -> None:
    olds = inference()
    news = inference(**{field: {"changed": True} if field != "image" else "x:2"})

    diff = InferenceProvider().diff("w", olds, news)

    assert diff.changes and not diff.replaces


@pytest.mark.parametrize("field", sorted(CREATE_ONLY_SPEC_FIELDS))
def test_create_only_inference_field_replaces(field: str) -> None:
    olds = inference()
    news = inference(**{field: [{"name": "x", "value": "y"}]})

    diff = InferenceProvider().diff("w", olds, news)

    assert diff.replaces == [f"spec.{field}"]
    assert diff.delete_before_replace is False


def test_pinned_inference_replaces_delete_first() -> None:
    olds = {**inference(), "namePinned": True}
    news = {**inference(servingPort={"container": 8080}), "namePinned": True}

    assert InferenceProvider().diff("w", olds, news).delete_before_replace is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"image": "vllm/vllm-openai:v0.10.3"}, "update"),
        ({"servingPort": {"container": 8080}}, "replace"),
        ({"storage": {"pvc": [{"claimName": "other"}]}}, "replace"),
        ({"autoscaling": {"minReplicas": 2, "maxReplicas": 2}}, "update"),
        ({"labels": [{"name": "team", "value": "b"}]}, "replace"),
        (
            {"environmentVariables": [{"name": "HF_TOKEN", "secret": {"name": "new"}}]},
            "update",
        ),
    ],
)
def test_named_cases(change: dict[str, Any], expected: str) -> None:
    diff = InferenceProvider().diff("w", inference(), inference(**change))

    assert ("replace" if diff.replaces else "update") == expected


def test_identical_input_gives_no_diff_whatever_the_numbers_order_or_provider() -> None:
    olds = {**inference(), "__provider": "gASV-old-module-path", "phase": "Running"}
    news = inference(compute={"gpuDevicesRequest": 1.0})
    news["spec"] = dict(reversed(list(news["spec"].items())))
    news["__provider"] = "gASV-new-sdk-version"

    assert not InferenceProvider().diff("w", olds, news).changes


def test_project_put_fields_are_the_update_schema() -> None:
    update = set(schema_properties("ProjectUpdateRequest"))
    create = set(schema_properties("ProjectCreationRequest"))
    create_only = set(PROJECT_API_FIELDS.values()) - _PUT_FIELDS

    assert _PUT_FIELDS <= update
    assert create_only <= create and not create_only & update
    replaced = {
        PROJECT_API_FIELDS[k]
        for k in ProjectProvider._replace_keys
        if k in PROJECT_API_FIELDS
    }
    assert replaced == create_only


@pytest.mark.parametrize(
    ("key", "value", "replaces"),
    [
        ("quotas", [{"nodePool": "default", "gpu": 3}], False),
        ("description", "new", False),
        ("defaultNodePools", ["a100"], False),
        ("name", "other", True),
        ("clusterId", "other", True),
        ("requestedNamespace", "other", True),
        ("department", "other", True),
    ],
)
def test_project_fields(key: str, value: Any, replaces: bool) -> None:
    from components.errors import RunaiHFError

    olds = {
        "name": "p",
        "clusterId": "c",
        "quotas": [{"nodePool": "default", "gpu": 1}],
    }

    if not replaces:
        diff = ProjectProvider().diff("1", olds, {**olds, key: value})
        assert diff.changes and not diff.replaces
        return
    # A project replacement would delete everything in it: refused, not done.
    with pytest.raises(RunaiHFError, match=f"{key} cannot change on a project"):
        ProjectProvider().diff("1", olds, {**olds, key: value})


def test_turning_a_managed_project_into_an_existing_one_is_refused() -> None:
    from components.errors import RunaiHFError

    olds = {
        "name": "p",
        "clusterId": "c",
        "quotas": [{"nodePool": "default", "gpu": 1}],
    }

    with pytest.raises(RunaiHFError, match="existing cannot change"):
        ProjectProvider().diff("1", olds, {**olds, "existing": True})


def test_credential_update_schema_allows_only_the_description() -> None:
    for kind in ("GenericSecretUpdateRequest", "DockerRegistryUpdateRequest"):
        assert set(schema_properties(kind)) == {"meta"}
        assert set(schema_properties(kind, "meta")) == {"description"}

    olds = {
        "name": "hf-abcde",
        "kind": "generic-secret",
        "projectId": "1",
        "clusterId": "c",
        "key": "HF_TOKEN",
        "valueDigest": secret_digest("hf_one"),
    }
    same = {**olds, "value": "hf_one"}
    provider = CredentialProvider()

    assert not provider.diff("a", olds, same).changes
    assert provider.diff("a", olds, {**same, "description": "x"}).replaces == []
    assert provider.diff("a", olds, {**same, "value": "hf_two"}).replaces == ["value"]
    assert provider.diff("a", olds, {**same, "key": "OTHER"}).replaces == ["key"]


def test_pvc_update_schema_matches_the_in_place_fields() -> None:
    meta = set(schema_properties("PVCUpdateRequest", "meta"))
    spec = set(schema_properties("PVCUpdateRequest", "spec"))
    in_place = set(DataSourceProvider._update_keys)

    assert meta | spec == {"name", "description", "path"} == in_place
    olds = {
        "name": "m",
        "projectId": "1",
        "clusterId": "c",
        "path": "/models",
        "size": "20Gi",
    }
    provider = DataSourceProvider()
    assert provider.diff("a", olds, {**olds, "path": "/w"}).replaces == []
    assert provider.diff("a", olds, {**olds, "size": "40Gi"}).replaces == ["size"]


def test_moving_an_inference_to_another_project_replaces_it() -> None:
    olds = {**inference(), "project": "team-a"}
    news = {**inference(), "project": "team-b"}

    assert InferenceProvider().diff("w", olds, news).replaces == ["project"]
