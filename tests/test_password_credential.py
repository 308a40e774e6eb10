"""User and password credentials (`kind: password`): config, program, provider.

The provider runs over real HTTP against the emulator on loopback, which
refuses any body the OpenAPI document does not describe; the answers are
checked against the document here too.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from test_config import VALID
from test_program import TOKEN, fake_server
from test_providers import api, configured, project  # noqa: F401 (fixture)

from components._providers import CredentialProvider
from components.config import StackConfig, load_stack_config
from components.errors import ConfigError, ConflictError
from conftest import PROJECT_DIR
from emulator import validate_request, validate_response
from preflight._runtime import ProgramRun, run_program
from preflight._stackfile import StackFile

PASSWORDS = "/api/v1/asset/credentials/password"
PASSWORD = "git-pass-never-shown-7f3a"
LOGIN = {"name": "git-login", "kind": "password", "user": "deploy-bot"}


def with_credentials(*credentials: dict[str, Any]) -> dict[str, Any]:
    values = copy.deepcopy(VALID)
    values["credentials"] = [{"name": "hf-token"}, *credentials]
    return values


def problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)
    return raised.value.problems


def run_values(values: dict[str, Any], secrets: dict[str, str]) -> ProgramRun:
    """`__main__.py` under the mock runtime with these `runai-hf:` values."""
    connection = values.pop("connection")
    config = {f"runai:{key}": str(value) for key, value in connection.items()}
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        config[f"runai-hf:{key}"] = text
    secrets = {"runai:clientSecret": "client-secret", **secrets}
    stack_file = StackFile(
        project="runai-hf",
        stack="scratch",
        path=PROJECT_DIR / "stacks" / "Pulumi.scratch.yaml",
        config={**config, **secrets},
        secret_keys=frozenset(secrets),
    )
    return run_program(PROJECT_DIR, stack_file, fake_server, preview=False)


# -- config ---------------------------------------------------------------------


def test_password_credential_reads_its_password_key() -> None:
    values = with_credentials({**LOGIN, "passwordKey": "gitPassword"})

    credential = StackConfig.from_values(values).credentials[1]

    assert credential.kind == "password"
    assert credential.secret_key == "gitPassword"


def test_password_credential_needs_user_and_password_key() -> None:
    found = problems(with_credentials({"name": "git-login", "kind": "password"}))

    assert found == [
        "runai-hf:credentials[1]: a password credential needs user and passwordKey "
        "(missing: user, passwordKey)"
    ]


def test_password_credential_has_no_url() -> None:
    login = {**LOGIN, "passwordKey": "gitPassword", "url": "https://git.internal"}

    found = problems(with_credentials(login))

    assert found == [
        "runai-hf:credentials[1]: a password credential needs user and passwordKey "
        "and takes no url"
    ]


def test_its_password_key_is_a_key_the_program_reads() -> None:
    values = with_credentials({**LOGIN, "passwordKey": "gitPassword"})
    raw = {
        f"runai-hf:{key}": json.dumps(value) if not isinstance(value, str) else value
        for key, value in values.items()
        if key != "connection"
    }
    raw.update({f"runai:{k}": v for k, v in values["connection"].items()})
    present = [*raw, "runai-hf:gitPassword", "runai-hf:gitPasword"]

    with pytest.raises(ConfigError) as raised:
        load_stack_config(raw.get, present=present)

    assert raised.value.problems == [
        "runai-hf:gitPasword: is not a key this program reads; did you mean "
        "gitPassword?"
    ]


# -- program --------------------------------------------------------------------


def test_program_creates_it_with_the_password_as_a_secret_only() -> None:
    values = with_credentials({**LOGIN, "passwordKey": "gitPassword"})
    secrets = {"runai-hf:hfToken": TOKEN, "runai-hf:gitPassword": PASSWORD}

    run = run_values(values, secrets)

    credentials = run.by_type("pulumi-python:dynamic/runai:Credential")
    login = [c for c in credentials if c.name == "git-login"][0]
    others = [r for r in run.registrations if r is not login]
    assert login.inputs["kind"] == "password"
    assert login.inputs["user"] == "deploy-bot"
    assert "url" not in login.inputs and "key" not in login.inputs
    assert login.inputs["value"]["value"] == PASSWORD
    assert login.inputs["value"]["4dabf18193072939515e22adb298388d"]
    assert PASSWORD not in repr([r.inputs for r in others] + [run.exports])


def test_program_looks_up_an_existing_password_credential() -> None:
    existing = {"name": "team-git", "kind": "password", "existing": True}
    values = with_credentials(existing)

    run = run_values(values, {"runai-hf:hfToken": TOKEN})

    credentials = run.by_type("pulumi-python:dynamic/runai:Credential")
    found = [c for c in credentials if c.name == "team-git"][0].inputs
    assert found["kind"] == "password" and found["existing"] is True
    assert found["name"] == "team-git" and not found.get("value")


# -- provider against the emulator -----------------------------------------------


def login_inputs(owner: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "logicalName": "git-login",
        "kind": "password",
        "projectId": owner["projectId"],
        "clusterId": owner["clusterId"],
        "user": "deploy-bot",
        "value": PASSWORD,
        **extra,
    }


def test_password_credential_is_created_rotated_and_never_shown(
    project: dict[str, Any],  # noqa: F811 (fixture)
    connection: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = configured(CredentialProvider(), connection)
    checked = provider.check({}, login_inputs(project))
    inputs = checked.inputs
    body = provider._kind(inputs)._body(inputs)
    validate_request("POST", PASSWORDS, body)

    created = provider.create(inputs)
    with api(connection) as client:
        stored = client.get(f"{PASSWORDS}/{created.id}")
        listed = client.get(PASSWORDS, name=inputs["name"])
    unchanged = provider.diff(created.id, created.outs, inputs)
    rotated = provider.diff(created.id, created.outs, {**inputs, "value": "new-one"})
    other_user = provider.diff(created.id, created.outs, {**inputs, "user": "bot-2"})
    # The engine's replacement: a fresh name beside the old one, then delete.
    fresh = provider.check({}, login_inputs(project, value="new-one")).inputs
    replacement = provider.create(fresh)
    provider.delete(created.id, created.outs)
    with pytest.raises(ConflictError) as duplicate:
        provider.create(fresh)
    provider.delete(replacement.id, replacement.outs)

    validate_response("GET", f"{PASSWORDS}/{{AssetId}}", 200, stored)
    validate_response("GET", PASSWORDS, 200, listed)
    assert not checked.failures
    assert body["spec"] == {"user": "deploy-bot", "password": PASSWORD}
    assert stored["meta"]["kind"] == "password"
    assert stored["spec"]["user"] == "deploy-bot"
    assert created.outs["kubernetesSecretName"]
    assert created.outs["valueDigest"] and "value" not in created.outs
    assert not unchanged.changes
    assert rotated.replaces == ["value"] and not rotated.delete_before_replace
    assert other_user.replaces == ["user"]
    assert replacement.id != created.id
    assert fresh["name"] != inputs["name"]
    assert provider.read(created.id, created.outs).id is None
    shown = [repr(created.outs), repr(replacement.outs), repr(stored), repr(listed)]
    shown += [str(duplicate.value), caplog.text]
    assert not [text for text in shown if PASSWORD in text or "new-one" in text]


def test_existing_password_credential_is_found_and_left_alone(
    project: dict[str, Any],  # noqa: F811 (fixture)
    connection: dict[str, str],
) -> None:
    provider = configured(CredentialProvider(), connection)
    theirs = provider.create(provider.check({}, login_inputs(project)).inputs)
    reference = {
        "name": theirs.outs["name"],
        "kind": "password",
        "existing": True,
        "projectId": project["projectId"],
    }

    found = provider.create(provider.check({}, reference).inputs)
    provider.delete(found.id, found.outs)
    with api(connection) as client:
        still = client.get(f"{PASSWORDS}/{theirs.id}")
    provider.delete(theirs.id, theirs.outs)

    assert found.id == theirs.id
    assert found.outs["kubernetesSecretName"] == theirs.outs["kubernetesSecretName"]
    assert still["meta"]["id"] == theirs.id
