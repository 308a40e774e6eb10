"""Rolling revisions in the emulator: quota, supersession, deadlines, pulls.

One emulator serves the module (project names differ per test); the progress
deadline test has its own, with a short deadline. Every response is checked
against the OpenAPI document by the hook of `test_emulator`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
from test_emulator import (
    SPEED,
    _client,
    _inference,
    _login,
    _project,
    _revisions,
    _running,
    _wait_until,
    _workload,
    logged_in_api,
    module_server,
)

from emulator import EmulatorServer, serve_in_background

INFERENCES = "/api/v1/workloads/inferences"
PROJECTS = "/api/v1/org-unit/projects"
MISSING_IMAGE = "vllm/vllm-openai:does-not-exist"


server = module_server("revisions")


api = logged_in_api()


def _serving(
    api: httpx.Client, server: EmulatorServer, project: str, deserved: float
) -> tuple[str, str]:
    """A project and a running one-GPU non-preemptible inference `chat` in it."""
    project_id = _project(api, server.cluster_id, name=project, gpus=deserved)["id"]
    created = _inference(
        api, server, project_id, name="chat", preemptibility="non-preemptible"
    )
    workload_id: str = created.json()["workloadId"]
    _running(api, workload_id)
    return project_id, workload_id


def _patch(api: httpx.Client, workload_id: str, **spec: Any) -> dict[str, Any]:
    response = api.patch(f"{INFERENCES}/{workload_id}", json={"spec": spec})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def _phases(revisions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(revision["name"], revision["phase"]) for revision in revisions]


def _rolled_to(api: httpx.Client, workload_id: str, name: str) -> list[Any]:
    revisions: list[Any] = _wait_until(
        lambda: _revisions(api, workload_id),
        lambda found: _phases(found) == [(name, "Running")],
    )
    assert _phases(revisions) == [(name, "Running")]
    return revisions


def _pool_status(api: httpx.Client, project_id: str, pool: str) -> dict[str, Any]:
    status = api.get(f"{PROJECTS}/{project_id}").json()["status"]
    entry: dict[str, Any] = next(
        e for e in status["nodePoolQuotaStatuses"] if e["nodePoolName"] == pool
    )
    return entry


def _free_non_preemptible(project: dict[str, Any], pool: str) -> float:
    """What README.md tells a client to compute before it PATCHes."""
    deserved = next(
        (
            float(entry["gpu"]["deserved"])
            for entry in project["resources"]
            if entry["nodePool"]["name"] == pool
        ),
        0.0,
    )
    held = next(
        (
            float(entry["allocatedNonPreemptible"]["gpu"])
            for entry in project["status"]["nodePoolQuotaStatuses"]
            if entry["nodePoolName"] == pool
        ),
        0.0,
    )
    return max(deserved - held, 0.0)


def test_a_patch_that_fits_rolls_onto_revision_2(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id, workload_id = _serving(api, server, "fits", deserved=2)

    patched = _patch(api, workload_id, image="vllm/vllm-openai:v0.7.3")
    live = _rolled_to(api, workload_id, "chat-00002")
    old = _revisions(api, workload_id, deleted=True)
    workload = _workload(api, workload_id)
    pool = _pool_status(api, project_id, "default")

    assert patched["workloadId"] == workload_id
    assert live[0]["workloadId"] == workload_id
    assert live[0]["images"] == ["vllm/vllm-openai:v0.7.3"]
    assert [r["name"] for r in old] == ["chat-00001"] and old[0]["deletedAt"]
    assert old[0]["phaseMessage"] == "Replaced by chat-00002, which now serves"
    assert workload["phase"] == "Running" and workload["phaseMessage"] == ""
    assert "phaseReason" not in workload and workload["urls"]
    assert pool["allocated"]["gpu"] == pool["allocatedNonPreemptible"]["gpu"] == 1


def test_a_patch_over_the_deserved_quota_waits_until_a_smaller_one_replaces_it(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id, workload_id = _serving(api, server, "tight", deserved=2)
    before = api.get(f"{PROJECTS}/{project_id}").json()

    _patch(api, workload_id, autoscaling={"minReplicas": 2, "maxReplicas": 2})
    time.sleep(6 / SPEED)  # long enough to have run (4 s), had it been placed
    waiting = _workload(api, workload_id)
    both = _revisions(api, workload_id)
    pool = _pool_status(api, project_id, "default")
    _patch(api, workload_id, autoscaling=None, image="vllm/vllm-openai:v0.7.3")
    live = _rolled_to(api, workload_id, "chat-00003")
    old = _revisions(api, workload_id, deleted=True)
    settled = _workload(api, workload_id)

    assert _free_non_preemptible(before, "default") == 1
    assert waiting["phase"] == "Running" and waiting["urls"]
    assert waiting["phaseReason"] == "NonPreemptibleOverQuota"
    message = waiting["phaseMessage"]
    assert message.startswith(
        "Rolling update pending: Non-preemptible over quota: revision chat-00002"
        " needs 2 GPUs on node pool 'default' (2 pods x 1 GPU, placed together),"
        " but project 'tight' has 1 GPU free there for non-preemptible work"
        " (2 deserved minus 1 held by its non-preemptible workloads)."
    )
    assert "raise the project's deserved GPUs on 'default'" in message
    assert waiting["pendingSchedulingMessages"][0]["phaseReason"] == (
        "NonPreemptibleOverQuota"
    )
    assert _phases(both) == [("chat-00001", "Running"), ("chat-00002", "Pending")]
    assert both[1]["phaseMessage"] == message.removeprefix("Rolling update pending: ")
    assert (pool["allocated"]["gpu"], pool["requested"]["gpu"]) == (1, 3)
    assert live[0]["images"] == ["vllm/vllm-openai:v0.7.3"]
    superseded = next(r for r in old if r["name"] == "chat-00002")
    assert sorted(r["name"] for r in old) == ["chat-00001", "chat-00002"]
    assert superseded["phaseMessage"].startswith("Superseded by chat-00003")
    assert superseded["deletedAt"] and superseded["allocatedResources"]["gpu"] == 0
    assert settled["phase"] == "Running" and "phaseReason" not in settled


def test_a_bad_image_tag_fails_the_revision_and_the_old_one_keeps_serving(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id, workload_id = _serving(api, server, "pulls", deserved=2)

    _patch(api, workload_id, image=MISSING_IMAGE)
    revisions = _wait_until(
        lambda: _revisions(api, workload_id),
        lambda found: found[-1]["phase"] == "Failed",
    )
    workload = _workload(api, workload_id)
    pool = _pool_status(api, project_id, "default")
    fresh = _inference(api, server, project_id, name="fresh", image=MISSING_IMAGE)
    failed = _wait_until(
        lambda: _workload(api, fresh.json()["workloadId"]),
        lambda found: found["phase"] == "Failed",
    )

    pull = f'Failed to pull image "{MISSING_IMAGE}": not found'
    assert _phases(revisions) == [("chat-00001", "Running"), ("chat-00002", "Failed")]
    assert revisions[1]["phaseMessage"].startswith(f"{pull}; the registry has no")
    assert "the previous revision keeps serving" in revisions[1]["phaseMessage"]
    assert workload["phase"] == "Running" and workload["urls"]
    assert workload["phaseMessage"].startswith(f"Rolling update failed: {pull}")
    assert pool["allocated"]["gpu"] == 1
    assert failed["phaseMessage"].startswith(pull)
    assert "the workload cannot start" in failed["phaseMessage"]
    assert failed["urls"] == []


def test_a_first_revision_fails_at_its_initialization_timeout_once_placed(
    api: httpx.Client, server: EmulatorServer
) -> None:
    project_id = _project(api, server.cluster_id, name="slow", gpus=1)["id"]
    timeout = {"initializationTimeoutSeconds": 2}
    slow = _inference(
        api, server, project_id, name="slow", servingConfiguration=timeout
    )
    huge = _inference(
        api, server, project_id, name="huge", gpus=64, servingConfiguration=timeout
    )
    failed = _wait_until(
        lambda: _workload(api, slow.json()["workloadId"]),
        lambda found: found["phase"] == "Failed",
    )
    time.sleep(6 / SPEED)
    waiting = _workload(api, huge.json()["workloadId"])

    assert failed["phaseMessage"].startswith(
        "revision slow-00001 did not become ready within 2 s of being scheduled"
    )
    # Not placed, so not timed out: a new workload that does not fit waits.
    assert waiting["phase"] == "Pending"
    assert waiting["phaseReason"] == "NonPreemptibleOverQuota"


def test_project_status_counts_gpus_so_a_client_can_tell_what_fits(
    api: httpx.Client, server: EmulatorServer
) -> None:
    resources = [
        {"nodePool": {"id": "1"}, "gpu": {"deserved": 4}},
        {"nodePool": {"id": "2"}, "gpu": {"deserved": 2, "limit": 3}},
    ]
    project_id = api.post(
        PROJECTS,
        json={
            "name": "numbers",
            "clusterId": server.cluster_id,
            "resources": resources,
        },
    ).json()["id"]
    memory = {"gpuDevicesRequest": 1, "gpuRequestType": "memory"}
    # Neither priority nor preemptibility: an inference is very-high priority,
    # hence non-preemptible.
    pair = _inference(
        api, server, project_id, name="pair", autoscaling={"minReplicas": 2}
    ).json()["workloadId"]
    shares = [
        _inference(
            api,
            server,
            project_id,
            name="half",
            priorityClass="medium",
            compute={**memory, "gpuMemoryRequest": "40Gi"},
        ),
        _inference(
            api,
            server,
            project_id,
            name="over",
            gpus=3,
            nodePools=["a100"],
            preemptibility="preemptible",
        ),
    ]
    pending = [
        _inference(
            api, server, project_id, name="big", gpus=16, preemptibility="preemptible"
        ),
        _inference(
            api,
            server,
            project_id,
            name="capped",
            nodePools=["a100"],
            preemptibility="preemptible",
        ),
    ]
    for workload_id in [pair, *(r.json()["workloadId"] for r in shares)]:
        _running(api, workload_id)
    project = api.get(f"{PROJECTS}/{project_id}").json()
    big, capped = (_workload(api, r.json()["workloadId"]) for r in pending)
    free = _free_non_preemptible(project, "default")
    _patch(api, pair, image="vllm/vllm-openai:v0.7.3")
    _rolled_to(api, pair, "pair-00002")

    statuses = {
        e["nodePoolName"]: e for e in project["status"]["nodePoolQuotaStatuses"]
    }
    gpus = {
        pool: tuple(entry[key]["gpu"] for key in _KEYS)
        for pool, entry in statuses.items()
    }
    assert gpus == {"default": (2.5, 2, 18.5), "a100": (3, 0, 4)}
    total = project["status"]["quotaStatus"]
    assert tuple(total[key]["gpu"] for key in _KEYS) == (5.5, 2, 22.5)
    assert free == 2
    assert _workload(api, shares[0].json()["workloadId"])["preemptible"] is True
    assert big["phaseReason"] == "OverLimit"
    # Other tests of the module hold GPUs in the same pool: no exact number.
    assert re.search(
        r"; the pool has [0-9.]+ of its 8 GPUs free\.", big["phaseMessage"]
    )
    assert capped["phaseReason"] == "OverLimit"
    assert capped["phaseMessage"].startswith(
        "Over limit: revision capped-00001 needs 1 GPU on node pool 'a100'"
        " (1 pod x 1 GPU, placed together), but project 'numbers' may hold at most"
        " 3 GPUs there (its GPU limit) and holds 3, so 0 GPUs free."
    )


_KEYS = ("allocated", "allocatedNonPreemptible", "requested")


def test_an_update_past_the_progress_deadline_is_removed(tmp_path: Path) -> None:
    # 10 emulated seconds: 0.1 s at this speed, well past the 0.04 s a
    # revision needs to run once placed.
    with serve_in_background(
        tmp_path / "deadline.db", speed=SPEED, progress_deadline=10
    ) as server:
        with _client(server) as api:
            _login(api, server)
            project_id, workload_id = _serving(api, server, "deadline", deserved=1)
            _patch(api, workload_id, autoscaling={"minReplicas": 2})
            removed = _wait_until(
                lambda: _revisions(api, workload_id, deleted=True),
                lambda found: bool(found),
            )
            live = _revisions(api, workload_id)
            workload = _workload(api, workload_id)
            pool = _pool_status(api, project_id, "default")

    assert [r["name"] for r in removed] == ["chat-00002"]
    assert removed[0]["phase"] == "Failed" and removed[0]["deletedAt"]
    message = removed[0]["phaseMessage"]
    assert message.startswith(
        "revision chat-00002 did not become ready within 10 s; the previous"
        " revision keeps serving. The rollout was stopped at the progress deadline"
    )
    assert "it was still Pending (Non-preemptible over quota: " in message
    assert _phases(live) == [("chat-00001", "Running")]
    assert workload["phase"] == "Running" and "phaseReason" not in workload
    assert workload["phaseMessage"] == f"Rolling update failed: {message}"
    assert (pool["allocated"]["gpu"], pool["requested"]["gpu"]) == (1, 1)


def test_raising_the_deserved_quota_lets_a_waiting_update_run(
    api: httpx.Client, server: EmulatorServer
) -> None:
    # On a100, away from the default pool the module's other tests fill.
    def quota(deserved: int) -> dict[str, Any]:
        return {"resources": [{"nodePool": {"id": "2"}, "gpu": {"deserved": deserved}}]}

    project_id = api.post(
        PROJECTS, json={"name": "grows", "clusterId": server.cluster_id, **quota(1)}
    ).json()["id"]
    workload_id = _inference(
        api, server, project_id, name="chat", nodePools=["a100"]
    ).json()["workloadId"]
    _running(api, workload_id)

    _patch(api, workload_id, autoscaling={"minReplicas": 2})
    waiting = _workload(api, workload_id)
    raised = api.put(f"{PROJECTS}/{project_id}", json=quota(3))
    _rolled_to(api, workload_id, "chat-00002")
    pool = _pool_status(api, project_id, "a100")

    assert waiting["phaseReason"] == "NonPreemptibleOverQuota"
    assert "has 0 GPUs free there for non-preemptible work" in waiting["phaseMessage"]
    assert raised.status_code == 200
    assert pool["allocatedNonPreemptible"]["gpu"] == 2
