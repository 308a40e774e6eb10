"""The OpenAPI validators in `emulator._spec`, which other tests reuse."""

from __future__ import annotations

import pytest

from emulator import SpecViolation, path_template, validate_request, validate_response

INFERENCES = "/api/v1/workloads/inferences"
CLUSTER_ID = "4ebb4567-6dc7-53ea-b9cd-401715881a88"


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (INFERENCES, INFERENCES),
        (f"{INFERENCES}/abc", f"{INFERENCES}/{{workloadId}}"),
        (f"{INFERENCES}/abc/revisions", f"{INFERENCES}/{{workloadId}}/revisions"),
        (f"{INFERENCES}/revisions/abc", f"{INFERENCES}/revisions/{{revisionId}}"),
        ("/api/v1/workloads/abc", "/api/v1/workloads/{workloadId}"),
        ("/api/v1/org-unit/projects/7", "/api/v1/org-unit/projects/{projectId}"),
    ],
)
def test_path_template_prefers_literal_segments(path: str, template: str) -> None:
    assert path_template(path) == template


def test_path_template_refuses_unknown_paths() -> None:
    with pytest.raises(SpecViolation, match="no path"):
        path_template("/api/v1/nothing-here")


def test_request_violation_names_path_value_and_rule() -> None:
    body = {
        "name": "llama",
        "projectId": "1",
        "clusterId": CLUSTER_ID,
        "spec": {"compute": {"gpuPortionRequest": -0.5}},
    }

    with pytest.raises(SpecViolation) as caught:
        validate_request("POST", INFERENCES, body)

    assert str(caught.value) == (
        "spec.compute.gpuPortionRequest: -0.5 is less than the minimum of 0"
    )


def test_request_violation_reports_missing_fields_and_formats() -> None:
    with pytest.raises(SpecViolation) as caught:
        validate_request("POST", INFERENCES, {"projectId": "1", "clusterId": "c-1"})

    message = str(caught.value)
    assert "name: is required but missing" in message
    assert "clusterId: 'c-1' is not a 'uuid'" in message


def test_request_violation_hides_secret_values() -> None:
    body = {
        "meta": {"name": "hf", "scope": "tenant"},
        "spec": {"keyValuePairs": [{"key": "HF_TOKEN", "value": 987654321}]},
    }

    with pytest.raises(SpecViolation) as caught:
        validate_request("POST", "/api/v1/asset/credentials/generic-secret", body)

    assert str(caught.value).startswith("spec.keyValuePairs[0].value:")
    assert "987654321" not in str(caught.value)


def test_request_without_body_schema_takes_no_body() -> None:
    validate_request("GET", "/api/v1/clusters", None)

    with pytest.raises(SpecViolation, match="takes no body"):
        validate_request("GET", "/api/v1/clusters", {"unexpected": True})


def test_response_must_use_a_declared_success_status() -> None:
    with pytest.raises(SpecViolation, match="status 201 is not declared"):
        validate_response("POST", INFERENCES, 201, {})


def test_undeclared_error_statuses_must_be_error_bodies() -> None:
    validate_response("POST", "/api/v1/token", 401, {"code": 401, "message": "no"})

    with pytest.raises(SpecViolation, match="code"):
        validate_response("POST", "/api/v1/token", 401, {"message": "no"})


def test_response_body_presence_follows_the_document() -> None:
    validate_response("DELETE", "/api/v1/org-unit/projects/{projectId}", 202, None)

    with pytest.raises(SpecViolation, match="needs a JSON body"):
        validate_response("DELETE", f"{INFERENCES}/{{workloadId}}", 202, None)


def test_unknown_operation_lists_the_allowed_methods() -> None:
    with pytest.raises(SpecViolation, match="allowed methods: GET"):
        validate_request("PATCH", "/api/v1/clusters", {})


def test_a_method_the_document_lacks_may_only_answer_405() -> None:
    error = {"code": 405, "message": "it takes POST"}

    validate_response("GET", "/api/v1/token", 405, error)

    with pytest.raises(SpecViolation, match="allowed methods: POST"):
        validate_response("GET", "/api/v1/token", 404, error)
    with pytest.raises(SpecViolation, match="message"):
        validate_response("GET", "/api/v1/token", 405, {"code": 405})


def test_nullable_enums_admit_null() -> None:
    compute = {"gpuRequestType": None, "gpuPortionRequest": None}

    validate_request(
        "PATCH", f"{INFERENCES}/{{workloadId}}", {"spec": {"compute": compute}}
    )

    with pytest.raises(SpecViolation, match="'whole' is not one of"):
        validate_request(
            "PATCH",
            f"{INFERENCES}/{{workloadId}}",
            {"spec": {"compute": {"gpuRequestType": "whole"}}},
        )


def test_vendored_document_is_the_shared_one() -> None:
    import hashlib
    from pathlib import Path

    from emulator._spec import SPEC_PATH

    shared = (
        Path(__file__).resolve().parents[2]
        / "shared"
        / "specs"
        / "runai-control-plane-openapi-2.24.json"
    )
    if not shared.is_file():
        pytest.skip(f"no shared specs beside the project ({shared})")

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert digest(SPEC_PATH) == digest(shared)
