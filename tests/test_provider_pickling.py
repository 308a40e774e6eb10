"""Providers travel to the engine's provider host the way the SDK pickles them."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from pulumi.dynamic.dynamic import serialize_provider

from components._providers import (
    CredentialProvider,
    DataSourceProvider,
    InferenceProvider,
    ProjectProvider,
)
from conftest import PROJECT_DIR

PROVIDERS = [ProjectProvider, CredentialProvider, DataSourceProvider, InferenceProvider]

UNPICKLE = """
import base64, json, sys
import dill
provider = dill.loads(base64.b64decode(sys.stdin.read()))
print(json.dumps({"module": type(provider).__module__,
                  "cls": type(provider).__name__,
                  "state": sorted(vars(provider))}))
"""


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_provider_pickles_by_reference_and_loads_in_a_fresh_interpreter(
    provider_class: type,
) -> None:
    blob = serialize_provider(provider_class())

    loaded = subprocess.run(
        [sys.executable, "-c", UNPICKLE],
        input=blob,
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=True,
        timeout=60,
    )

    found = json.loads(loaded.stdout)
    assert found["module"].startswith("components._providers.")
    assert found["cls"] == provider_class.__name__
    assert len(base64.b64decode(blob)) < 1000


def test_serialized_provider_is_stable() -> None:
    assert serialize_provider(InferenceProvider()) == serialize_provider(
        InferenceProvider()
    )


def test_configured_provider_pickles_without_its_secret() -> None:
    provider = ProjectProvider()
    config = {
        "runai-hf:x": "1",
        "runai:url": "http://127.0.0.1:1",
        "runai:clientId": "ci",
        "runai:clientSecret": "client-secret-value",
    }
    provider.configure(ConfigureRequest(Config(config, "runai-hf")))

    blob = base64.b64decode(serialize_provider(provider))

    assert b"client-secret-value" not in blob
    assert b"127.0.0.1" not in blob
