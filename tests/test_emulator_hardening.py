"""Requests the emulator must refuse cleanly, PATCH semantics, and bad start-ups.

Every refusal is an `Error` body (`code`, `message`) naming the rule, never a
500. One emulator serves most of the module; answers are checked against the
OpenAPI document by the hook of `test_emulator`.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_emulator import (
    REPO,
    SPEED,
    _client,
    _inference,
    _login,
    _project,
    _revisions,
    _running,
    _wait_until,
    logged_in_api,
    module_server,
)

from emulator import EmulatorServer, serve_in_background
from emulator.__main__ import main as emulator_main
from emulator._inferences import merge_patch

PROJECTS = "/api/v1/org-unit/projects"
INFERENCES = "/api/v1/workloads/inferences"
JSON = {"Content-Type": "application/json"}
MIB = 1024 * 1024


server = module_server("hardening")


api = logged_in_api()


@pytest.fixture(scope="module")
def project_id(server: EmulatorServer) -> str:
    with _client(server) as client:
        _login(client, server)
        project_id: str = _project(client, server.cluster_id, name="hardening")["id"]
    return project_id


def _with_number(body: dict[str, Any], number: str) -> bytes:
    # json.dumps cannot write these numbers, so a placeholder stands in.
    return json.dumps(body).replace('"NUMBER"', number).encode()


def _project_body(server: EmulatorServer, number: str) -> bytes:
    resources = [{"nodePool": {"id": "1"}, "gpu": {"deserved": "NUMBER"}}]
    body = {"name": "numbers", "clusterId": server.cluster_id, "resources": resources}
    return _with_number(body, number)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "1" * 400])
def test_non_finite_numbers_are_refused_naming_the_field(
    api: httpx.Client, server: EmulatorServer, number: str
) -> None:
    response = api.post(PROJECTS, content=_project_body(server, number), headers=JSON)

    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("resources[0].gpu.deserved: ")
    assert "is not a finite number" in message and "send a finite number" in message
    assert number[:12] in message


def test_non_finite_numbers_deep_in_an_inference_are_refused(
    api: httpx.Client, server: EmulatorServer, project_id: str
) -> None:
    body = {
        "name": "nan",
        "projectId": project_id,
        "clusterId": server.cluster_id,
        "spec": {"image": "x", "compute": {"gpuPortionRequest": "NUMBER"}},
    }

    response = api.post(INFERENCES, content=_with_number(body, "NaN"), headers=JSON)

    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "spec.compute.gpuPortionRequest: NaN is not a finite number"
    )


def test_deep_nesting_is_refused(api: httpx.Client) -> None:
    past_the_limit = '{"name": ' + "[" * 70 + "]" * 70 + "}"
    past_the_parser = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"

    for body in (past_the_limit, past_the_parser):
        response = api.post(PROJECTS, content=body.encode(), headers=JSON)

        assert response.status_code == 400
        assert "deeper than the limit of 64 levels" in response.json()["message"]


def test_null_list_items_and_bodies_that_are_not_objects_are_refused(
    api: httpx.Client, server: EmulatorServer, project_id: str
) -> None:
    listed = _inference(
        api, server, project_id, name="nulls", environmentVariables=[None]
    )
    array = api.post(PROJECTS, json=[{"name": "x"}])

    assert listed.status_code == 400
    assert listed.json()["message"].startswith(
        "spec.environmentVariables[0]: null is not allowed as a list item"
    )
    assert array.status_code == 400
    assert array.json()["message"] == (
        "POST /api/v1/org-unit/projects: the request body must be a JSON object,"
        " not an array; send {...}"
    )


def test_bodies_over_one_mebibyte_are_413(api: httpx.Client) -> None:
    big = b'{"name": "' + b"x" * MIB + b'"}'

    declared = api.post(PROJECTS, content=big, headers=JSON)
    streamed = api.post(PROJECTS, content=iter([big[:1000], big[1000:]]), headers=JSON)
    after = api.get(PROJECTS)

    for response in (declared, streamed):
        assert response.status_code == 413
        assert "over the limit of 1 MiB (1048576 bytes)" in response.json()["message"]
    assert after.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
)
def test_bodies_that_are_not_json_are_415(
    api: httpx.Client, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = api.post(PROJECTS, content=b'{"name": "x"}', headers=headers)

    assert response.status_code == 415
    message = response.json()["message"]
    assert message.startswith("POST /api/v1/org-unit/projects: the body has ")
    assert message.endswith("Content-Type: application/json")


def test_wrong_methods_are_405_naming_the_allowed_ones(
    api: httpx.Client, server: EmulatorServer
) -> None:
    with _client(server) as anonymous:
        token = anonymous.get("/api/v1/token")
    clusters = api.patch("/api/v1/clusters", json={})
    department = api.delete("/api/v1/org-unit/departments/1")

    assert token.status_code == 405 and token.headers["Allow"] == "POST"
    assert token.json()["message"] == (
        "GET /api/v1/token: method GET is not allowed on this path; it takes POST"
    )
    assert clusters.status_code == 405 and clusters.headers["Allow"] == "GET"
    assert department.status_code == 405
    assert department.json()["message"].endswith(
        "The Run:ai API also has DELETE here, but the emulator does not implement it"
    )


def test_patch_refuses_creation_only_fields(
    api: httpx.Client, server: EmulatorServer, project_id: str
) -> None:
    workload_id = _inference(api, server, project_id, name="fixed").json()["workloadId"]
    url = f"{INFERENCES}/{workload_id}"

    renamed = api.patch(url, json={"name": "other", "spec": {"image": "x"}})
    storage = api.patch(url, json={"spec": {"storage": {"pvc": []}}})
    unknown = api.patch(url, json={"colour": "red"})

    assert renamed.status_code == 400
    assert renamed.json()["message"].startswith(
        "name: set at creation only, a PATCH cannot change it (got 'other')"
    )
    assert storage.status_code == 400
    assert storage.json()["message"].startswith(
        "spec.storage: set at creation only, a PATCH cannot change it"
    )
    assert unknown.status_code == 400
    assert unknown.json()["message"].startswith("colour: not a field of a PATCH body")
    assert len(_revisions(api, workload_id)) == 1


def test_patch_is_a_json_merge_patch(
    api: httpx.Client, server: EmulatorServer, project_id: str
) -> None:
    portion = {"gpuDevicesRequest": 1, "gpuRequestType": "portion"}
    workload_id = _inference(
        api,
        server,
        project_id,
        name="merge",
        compute={**portion, "gpuPortionRequest": 0.5},
        args="--max-model-len 4096",
    ).json()["workloadId"]
    url = f"{INFERENCES}/{workload_id}"
    _running(api, workload_id)
    whole = {"gpuDevicesRequest": 1, "gpuRequestType": None, "gpuPortionRequest": None}

    patched = api.patch(url, json={"spec": {"compute": whole, "args": None}})
    again = api.patch(url, json={"spec": {"compute": whole}})
    scaled = api.patch(
        url, json={"spec": {"autoscaling": {"minReplicas": 1, "metric": None}}}
    )
    revisions = _wait_until(
        lambda: _revisions(api, workload_id), lambda found: len(found) == 1
    )

    spec = patched.json()["spec"]
    assert spec["compute"] == {"gpuDevicesRequest": 1}
    assert "args" not in spec and spec["image"] == "vllm/vllm-openai:v0.6.4"
    assert again.json()["spec"] == spec
    assert scaled.json()["spec"]["autoscaling"] == {"minReplicas": 1}
    assert [r["name"] for r in revisions] == ["merge-00003"]


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": [1, 2]}, "d": "keep", "e": 5}
    patch: dict[str, Any] = {"a": {"b": None, "c": [3]}, "e": {"f": None, "g": 1}}

    merged = merge_patch(target, patch)

    assert merged == {"a": {"c": [3]}, "d": "keep", "e": {"g": 1}}
    assert target == {"a": {"b": 1, "c": [1, 2]}, "d": "keep", "e": 5}


def test_numbers_stored_by_an_older_emulator_do_not_break_reads(
    tmp_path: Path,
) -> None:
    database = tmp_path / "old.db"
    with serve_in_background(database, speed=SPEED) as first:
        with _client(first) as api:
            _login(api, first)
            created = api.post(
                PROJECTS,
                json={
                    "name": "legacy",
                    "clusterId": first.cluster_id,
                    "resources": [
                        {
                            "nodePool": {"id": "1"},
                            "gpu": {"deserved": 4},
                            "cpu": {"deserved": 2000},
                        }
                    ],
                },
            ).json()
            workload_id = _inference(
                api,
                first,
                created["id"],
                compute={"gpuDevicesRequest": 1, "gpuPortionRequest": 0.5},
            ).json()["workloadId"]
            _running(api, workload_id)
    _store_non_finite_numbers(database)

    with serve_in_background(database, speed=SPEED) as second:
        with _client(second) as api:
            _login(api, second)
            reads = [
                api.get(f"{PROJECTS}/{created['id']}"),
                api.get(PROJECTS),
                api.get(f"{INFERENCES}/{workload_id}"),
                api.get(f"/api/v1/workloads/{workload_id}"),
                api.get("/api/v1/workloads"),
                api.get(f"{INFERENCES}/{workload_id}/revisions"),
                api.get(
                    "/api/v1/org-unit/departments", params={"verbosity": "verbose"}
                ),
            ]

    assert [response.status_code for response in reads] == [200] * len(reads)
    project = reads[0].json()
    assert project["resources"][0]["gpu"]["deserved"] == 0
    assert project["resources"][0]["cpu"]["deserved"] is None
    compute = reads[2].json()["spec"]["compute"]
    assert compute == {"gpuDevicesRequest": 1, "gpuPortionRequest": None}


def _store_non_finite_numbers(database: Path) -> None:
    # What an emulator that still accepted NaN and 1e400 would have written.
    replacements = [
        ('"deserved": 4', '"deserved": NaN'),
        ('"deserved": 2000', '"deserved": Infinity'),
        ('"gpuPortionRequest": 0.5', '"gpuPortionRequest": NaN'),
        ('"gpus_per_pod": 0.5', '"gpus_per_pod": -Infinity'),
    ]
    with sqlite3.connect(database) as db:
        for old, new in replacements:
            changed = db.execute(
                "UPDATE records SET body = replace(body, ?, ?)", (old, new)
            ).rowcount
            assert changed, old
    db.close()


def test_the_cli_refuses_a_database_that_is_not_sqlite(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")

    finished = subprocess.run(
        [sys.executable, "-m", "emulator", "--db", str(notes), "--port", "0"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert finished.returncode == 2 and finished.stdout == ""
    assert finished.stderr.splitlines() == [
        f"emulator: cannot start: database {notes} is not an emulator database"
        " (file is not a database); point --db at a new file or at one this"
        " emulator wrote"
    ]


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--db", "{missing}"], "database {missing}: the directory "),
        (["--port", "99999"], "argument --port: '99999' is not a TCP port; use 0"),
        (["--client-id", ""], "argument --client-id: '' is empty; give the id"),
        (["--speed", "nan"], "speed must be a finite number > 0, got nan"),
        (
            ["--progress-deadline", "0"],
            "progress deadline must be a finite number of seconds > 0, got 0.0;",
        ),
    ],
)
def test_the_cli_refuses_bad_options_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    reason: str,
) -> None:
    missing = str(tmp_path / "missing" / "runai.db")
    argv = ["--db", str(tmp_path / "cli.db")] + [
        argument.format(missing=missing) for argument in arguments
    ]

    try:
        status = emulator_main(argv)
    except SystemExit as stopped:
        status = stopped.code
    printed = capsys.readouterr()

    assert status == 2 and printed.out == ""
    lines = printed.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"emulator: cannot start: {reason.format(missing=missing)}"
    )
