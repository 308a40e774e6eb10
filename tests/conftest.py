"""Shared fixtures: a fresh Pulumi runtime per test, and the emulator on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preflight._runtime import reset_runtime

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_pulumi_runtime() -> Iterator[None]:
    # The SDK keeps the root stack, config and pending work in globals, and
    # creates futures outside a running loop: each test gets its own of both.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    reset_runtime()
    yield
    reset_runtime()
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from emulator import serve_in_background

    database = tmp_path_factory.mktemp("emulator") / "runai.db"
    with serve_in_background(database, speed=200.0) as handle:
        yield handle


@pytest.fixture
def connection(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The `runai:` config a provider's configure() receives."""
    for variable in ("RUNAI_URL", "RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    return {
        "runai:url": emulator.base_url,
        "runai:clientId": emulator.client_id,
        "runai:clientSecret": emulator.client_secret,
        "runai:clusterId": emulator.cluster_id,
    }
