"""An emulator of the NVIDIA Run:ai control-plane REST API, for tests and demos.

It serves the subset of the API that the project's providers use (token,
clusters, node pools, departments, projects, generic-secret and
docker-registry credentials, PVC data sources, inference workloads with
revisions) with the shapes of the
official OpenAPI document, keeps its state in a SQLite file, and moves
workloads through their phases on a clock that `speed` can accelerate.

Run it with `python -m emulator`, or in a test with::

    with serve_in_background(tmp_path / "runai.db", speed=100) as server:
        httpx.post(f"{server.base_url}/api/v1/token", json={...})

`validate_request` and `validate_response` check bodies against the OpenAPI
document, for the emulator and for any client of it. Outside the API,
`/_emulator/faults` makes chosen requests fail, for retry tests (README.md).
"""

from __future__ import annotations

from ._app import create_app
from ._server import EmulatorServer, serve_in_background
from ._spec import SpecViolation, path_template, validate_request, validate_response
from ._state import DEFAULT_CLIENT_ID, DEFAULT_CLUSTER_ID, DEFAULT_DEPARTMENT_ID

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLUSTER_ID",
    "DEFAULT_DEPARTMENT_ID",
    "EmulatorServer",
    "SpecViolation",
    "create_app",
    "path_template",
    "serve_in_background",
    "validate_request",
    "validate_response",
]
