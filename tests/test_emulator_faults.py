"""Fault injection (`/_emulator/faults`) for the retry tests of API clients.

One emulator serves the module; each test starts and ends with no fault
pending. Answers from the Run:ai paths, injected faults included, are checked
against the OpenAPI document by the hook of `test_emulator`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_emulator import _client, _login, module_server

from emulator import EmulatorServer

FAULTS = "/_emulator/faults"
PROJECTS = "/api/v1/org-unit/projects"


server = module_server("faults")


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[httpx.Client]:
    with _client(server) as client:
        _login(client, server)
        yield client
        client.delete(FAULTS)


def _pending(api: httpx.Client) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = api.get(FAULTS).json()["faults"]
    return faults


def test_a_fault_answers_the_next_matching_requests_then_runs_out(
    api: httpx.Client,
) -> None:
    fault = {
        "method": "GET",
        "path": PROJECTS,
        "status": 503,
        "count": 2,
        "retryAfter": 1,
    }

    created = api.post(FAULTS, json=fault)
    before = _pending(api)
    first = api.get(PROJECTS)
    other_method = api.post(PROJECTS, json={})
    second = api.get(PROJECTS)
    served = api.get(PROJECTS)

    assert created.status_code == 201 and created.json() == fault
    assert before == [fault]
    for failed in (first, second):
        assert failed.status_code == 503
        assert failed.headers["Retry-After"] == "1"
        assert failed.json()["code"] == 503
    assert "injected fault 1 of 2" in first.json()["message"]
    assert other_method.status_code == 400
    assert served.status_code == 200 and "Retry-After" not in served.headers
    assert _pending(api) == []


def test_a_template_fault_matches_every_concrete_path(api: httpx.Client) -> None:
    template = PROJECTS + "/{projectId}"
    api.post(
        FAULTS,
        json={"method": "GET", "path": template, "status": 500, "count": 2},
    )
    api.post(
        FAULTS,
        json={
            "method": "DELETE",
            "path": f"{PROJECTS}/7",
            "status": 429,
            "message": "slow down",
        },
    )

    left = _pending(api)
    one = api.get(f"{PROJECTS}/1")
    two = api.get(f"{PROJECTS}/2")
    three = api.get(f"{PROJECTS}/3")
    elsewhere = api.delete(f"{PROJECTS}/8")
    limited = api.delete(f"{PROJECTS}/7")

    assert [f["path"] for f in left] == [template, f"{PROJECTS}/7"]
    assert one.status_code == two.status_code == 500
    assert "Retry-After" not in one.headers
    assert three.status_code == 404
    assert elsewhere.status_code == 404
    assert limited.json() == {"code": 429, "message": "slow down"}


def test_faults_on_login_and_only_for_authenticated_requests(
    api: httpx.Client, server: EmulatorServer
) -> None:
    api.post(FAULTS, json={"method": "POST", "path": "/api/v1/token", "status": 503})
    api.post(FAULTS, json={"method": "GET", "path": PROJECTS, "status": 502})

    with _client(server) as anonymous:
        refused_login = anonymous.post(
            "/api/v1/token",
            json={
                "grantType": "client_credentials",
                "clientID": server.client_id,
                "clientSecret": server.client_secret,
            },
        )
        token = _login(anonymous, server)
        del anonymous.headers["Authorization"]
        unauthenticated = anonymous.get(PROJECTS)
        control = anonymous.get(FAULTS)
    failed = api.get(PROJECTS)

    assert refused_login.status_code == 503 and token
    assert unauthenticated.status_code == 401
    assert control.status_code == 401
    assert failed.status_code == 502


def test_clearing_faults(api: httpx.Client) -> None:
    for status in (500, 503):
        api.post(FAULTS, json={"method": "GET", "path": PROJECTS, "status": status})

    cleared = api.delete(FAULTS)

    assert cleared.status_code == 204
    assert _pending(api) == []
    assert api.get(PROJECTS).status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": 200}, "status: 200 is not allowed; give an error status"),
        ({"status": True}, "status: True is not allowed"),
        ({"count": 0}, "count: 0 is not allowed"),
        ({"retryAfter": 1.5}, "retryAfter: 1.5 is not allowed; give whole seconds"),
        ({"method": "FETCH"}, "method: 'FETCH' is not an HTTP method"),
        ({"path": "/api/v1/nowhere"}, "path: '/api/v1/nowhere' is neither"),
        ({"path": "/_emulator/faults"}, "path: '/_emulator/faults' is not a path"),
        ({"path": PROJECTS + "?limit=1"}, "path: '/api/v1/org-unit/projects?limit"),
        ({"path": "/api/v1/token"}, "method: the Run:ai API has no GET /api/v1/token"),
        ({"colour": "red"}, "colour: not a fault field"),
    ],
)
def test_a_bad_fault_is_refused_naming_the_field(
    api: httpx.Client, change: dict[str, Any], message: str
) -> None:
    fault = {"method": "GET", "path": PROJECTS, "status": 503, **change}

    response = api.post(FAULTS, json=fault)

    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    assert _pending(api) == []
