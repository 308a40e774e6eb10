"""Git data sources: config rules, the program's asset and mount, the provider.

The provider runs over real HTTP against the emulator on loopback, which
refuses any body the OpenAPI document does not describe; its answers are
checked against the document here too.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from test_config import VALID
from test_password_credential import PASSWORD, run_values
from test_program import TOKEN
from test_providers import (  # noqa: F401 (project is a fixture)
    api,
    configured,
    inference_inputs,
    project,
)

from components._providers import (
    CredentialProvider,
    DataSourceProvider,
    InferenceProvider,
    ProjectProvider,
)
from components._values import normalize
from components.config import StackConfig
from components.errors import ConfigError
from emulator import validate_request, validate_response

GITS = "/api/v1/asset/datasource/git"
CLUSTER = VALID["connection"]["clusterId"]
REPOSITORY = "https://git.example.invalid/ml/prompts.git"
GIT = {
    "name": "prompts",
    "kind": "git",
    "repository": REPOSITORY,
    "branch": "main",
    "mountPath": "/prompts",
    "credential": "git-login",
}
LOGIN = {
    "name": "git-login",
    "kind": "password",
    "user": "deploy-bot",
    "passwordKey": "gitPassword",
}


def stack(*sources: dict[str, Any], attach: list[str]) -> dict[str, Any]:
    values = copy.deepcopy(VALID)
    values["credentials"] = [{"name": "hf-token"}, dict(LOGIN)]
    values["dataSources"] = copy.deepcopy(list(sources))
    values["inferences"][0]["dataSources"] = attach
    return values


def problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)
    return raised.value.problems


# -- config ---------------------------------------------------------------------


def test_git_source_is_valid() -> None:
    source = StackConfig.from_values(stack(GIT, attach=["prompts"])).data_sources[0]

    assert source.repository == REPOSITORY and source.mount_path == "/prompts"


def test_git_source_needs_a_repository() -> None:
    source = {k: v for k, v in GIT.items() if k != "repository"}

    found = problems(stack(source, attach=[]))

    assert found == [
        "runai-hf:dataSources[0].repository: is required for kind git: give the "
        "repository URL, such as https://github.com/org/repo.git"
    ]


def test_repository_must_be_a_git_url() -> None:
    found = problems(stack({**GIT, "repository": "ftp://files/x"}, attach=[]))

    assert found == [
        "runai-hf:dataSources[0].repository: 'ftp://files/x' is not a Git "
        "repository URL: use https://host/org/repo.git, or "
        "ssh://git@host/org/repo.git or git@host:org/repo.git for SSH"
    ]


@pytest.mark.parametrize(
    "url", ["git@github.com:org/repo.git", "ssh://git@host.example/org/repo"]
)
def test_ssh_addresses_are_repositories(url: str) -> None:
    values = stack({**GIT, "repository": url, "credential": None}, attach=[])

    assert StackConfig.from_values(values).data_sources[0].repository == url


def test_a_password_in_the_url_is_refused_without_repeating_it() -> None:
    url = "https://bot:hunter2-secret@git.example.invalid/ml/prompts.git"

    found = problems(stack({**GIT, "repository": url}, attach=[]))

    assert len(found) == 1
    assert found[0].startswith("runai-hf:dataSources[0].repository: the URL holds")
    assert "hunter2-secret" not in found[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/z.git?access_token=QSTOKEN42",
        "https://github.com/acme/z.git#QSTOKEN42",
    ],
)
def test_a_token_in_a_query_is_refused_without_repeating_it(url: str) -> None:
    found = problems(stack({**GIT, "repository": url}, attach=[]))

    assert len(found) == 1
    assert "query or fragment" in found[0] and "QSTOKEN42" not in found[0]


@pytest.mark.parametrize(
    "url",
    [
        "https:/deploy:PWMARK@github.com/org/repo.git",
        "https//PWMARK@github.com/org/repo.git",
        "user:PWMARK@host:org/repo.git",
    ],
)
def test_a_malformed_url_is_refused_without_repeating_its_user_part(url: str) -> None:
    found = problems(stack({**GIT, "repository": url}, attach=[]))

    assert len(found) == 1 and "PWMARK" not in found[0]


def test_git_mounts_at_mount_path_not_path() -> None:
    found = problems(stack({**GIT, "path": "/prompts"}, attach=[]))

    assert found == [
        "runai-hf:dataSources[0].path: '/prompts': a git data source takes no path; "
        "the checkout goes to mountPath (the API's git path), path is the export "
        "or node path of kinds nfs and hostPath"
    ]


def test_git_settings_belong_to_git() -> None:
    nfs = {
        "name": "corpus",
        "kind": "nfs",
        "server": "nfs.internal",
        "path": "/export",
        "mountPath": "/data",
        "branch": "main",
    }

    found = problems(stack(nfs, attach=[]))

    assert found == [
        "runai-hf:dataSources[0].branch: belongs to kind git; a nfs data source "
        "takes no branch"
    ]


def test_git_credential_must_be_a_password() -> None:
    found = problems(stack({**GIT, "credential": "hf-token"}, attach=[]))

    assert found == [
        "runai-hf:dataSources[0].credential: 'hf-token' is a huggingFace "
        "credential; a git data source signs in with a credential of kind "
        "password (user and passwordKey); password credentials: git-login"
    ]


def test_git_credential_must_exist() -> None:
    found = problems(stack({**GIT, "credential": "git-logn"}, attach=[]))

    assert found == [
        "runai-hf:dataSources[0].credential: 'git-logn' is not a credential of "
        "this stack; known: git-login, hf-token"
    ]


def test_git_credential_comes_from_the_same_project() -> None:
    values = stack({**GIT, "project": "team-a"}, attach=[])
    values["projects"].append(
        {"name": "team-b", "quotas": [{"nodePool": "default", "gpu": 1}]}
    )
    values["credentials"][1]["project"] = "team-b"
    values["credentials"][0]["project"] = "team-a"
    values["modelStores"][0]["project"] = "team-a"
    values["inferences"][0]["project"] = "team-a"

    found = problems(values)

    assert found == [
        "runai-hf:dataSources[0].credential: 'git-login' belongs to project team-b, "
        "this data source to team-a; Run:ai credentials serve their own project: "
        "use one there"
    ]


def test_knative_inference_cannot_mount_git() -> None:
    values = stack(GIT, attach=["prompts"])
    values["inferences"][0]["delivery"] = "knative"

    found = problems(values)

    assert found == [
        "runai-hf:inferences[0].dataSources: data sources other than the model "
        "store are not mounted by Knative delivery yet; use delivery runaiApi for "
        "this inference"
    ]


# -- program --------------------------------------------------------------------


def test_program_creates_the_asset_and_mounts_it_inline() -> None:
    values = stack(GIT, attach=["prompts"])
    secrets = {"runai-hf:hfToken": TOKEN, "runai-hf:gitPassword": PASSWORD}

    run = run_values(values, secrets)

    source = run.by_type("pulumi-python:dynamic/runai:DataSource")
    asset = [s for s in source if s.name == "prompts"][0].inputs
    inference = run.by_type("pulumi-python:dynamic/runai:Inference")[0].inputs
    spec = normalize(inference["spec"])
    validate_request(
        "POST",
        "/api/v1/workloads/inferences",
        {"name": "chat", "projectId": "7", "clusterId": CLUSTER, "spec": spec},
    )
    # The fake server's ids are not UUIDs; the field names are what is checked.
    body_spec = {**asset["spec"], "credentialId": str(uuid.uuid4())}
    meta = {"name": "p", "scope": "project", "projectId": 7, "clusterId": CLUSTER}
    validate_request("POST", GITS, {"meta": meta, "spec": body_spec})
    others = [r for r in run.registrations if r.name != "git-login"]
    assert asset["kind"] == "git"
    # The fake server answers every credential with asset id a-1 and secret
    # name hf-token-k8s.
    assert asset["spec"] == {
        "repository": REPOSITORY,
        "branch": "main",
        "path": "/prompts",
        "credentialId": "a-1",
    }
    assert spec["storage"]["git"] == [
        {
            "name": "prompts",
            "repository": REPOSITORY,
            "branch": "main",
            "path": "/prompts",
            "secretRef": {"name": "hf-token-k8s", "authenticationMethod": "password"},
        }
    ]
    assert PASSWORD not in repr([r.inputs for r in others] + [run.exports])


def test_public_repository_needs_no_credential() -> None:
    public = {**GIT, "credential": None, "revision": "4f2c1e9"}
    values = stack(public, attach=["prompts"])

    secrets = {"runai-hf:hfToken": TOKEN, "runai-hf:gitPassword": PASSWORD}

    run = run_values(values, secrets)

    inference = run.by_type("pulumi-python:dynamic/runai:Inference")[0].inputs
    assert inference["spec"]["storage"]["git"] == [
        {
            "name": "prompts",
            "repository": REPOSITORY,
            "branch": "main",
            "revision": "4f2c1e9",
            "path": "/prompts",
        }
    ]


# -- provider against the emulator -----------------------------------------------


def test_git_source_created_mounted_updated_replaced_and_deleted(
    project: dict[str, Any],  # noqa: F811 (fixture)
    connection: dict[str, str],
) -> None:
    credentials = configured(CredentialProvider(), connection)
    login = credentials.create(
        credentials.check(
            {},
            {
                "logicalName": "git-login",
                "kind": "password",
                "projectId": project["projectId"],
                "clusterId": project["clusterId"],
                "user": "deploy-bot",
                "value": PASSWORD,
            },
        ).inputs
    )
    provider = configured(DataSourceProvider(), connection)
    spec = {
        "repository": REPOSITORY,
        "branch": "main",
        "path": "/prompts",
        "credentialId": login.id,
    }
    inputs = provider.check(
        {},
        {
            "logicalName": "prompts",
            "projectId": project["projectId"],
            "clusterId": project["clusterId"],
            "kind": "git",
            "spec": spec,
        },
    ).inputs
    validate_request("POST", GITS, {"meta": provider.meta(inputs), "spec": spec})

    created = provider.create(inputs)
    mount = {
        "name": "prompts",
        "repository": REPOSITORY,
        "branch": "main",
        "path": "/prompts",
        "secretRef": {
            "name": login.outs["kubernetesSecretName"],
            "authenticationMethod": "password",
        },
    }
    inferences = configured(InferenceProvider(), connection)
    workload = inferences.create(
        inferences.check({}, inference_inputs(project, storage={"git": [mount]})).inputs
    )
    with api(connection) as client:
        served = client.get(f"/api/v1/workloads/inferences/{workload.id}")
    inferences.delete(workload.id, workload.outs)

    news = {**inputs, "spec": {**spec, "branch": "release"}}
    in_place = provider.diff(created.id, created.outs, news)
    updated = provider.update(created.id, created.outs, news)
    read = provider.read(created.id, news)
    with api(connection) as client:
        stored = client.get(f"{GITS}/{created.id}")
        listed = client.get(GITS, name=inputs["name"])

    projects = configured(ProjectProvider(), connection)
    elsewhere = projects.create(
        {
            "name": f"{project['name']}-b",
            "clusterId": project["clusterId"],
            "quotas": [{"nodePool": "default", "gpu": 1}],
        }
    )
    moved = {**news, "projectId": elsewhere.outs["projectId"], "spec": spec}
    moved["spec"] = {k: v for k, v in spec.items() if k != "credentialId"}
    moving = provider.diff(created.id, updated.outs, moved)
    replacement = provider.create(provider.check({}, moved).inputs)
    provider.delete(created.id, updated.outs)
    gone = provider.read(created.id, news)
    provider.delete(replacement.id, replacement.outs)
    projects.delete(elsewhere.id, elsewhere.outs)
    credentials.delete(login.id, login.outs)

    validate_response("GET", f"{GITS}/{{AssetId}}", 200, stored)
    validate_response("GET", GITS, 200, listed)
    assert served["spec"]["storage"]["git"][0]["secretRef"] == mount["secretRef"]
    assert in_place.changes and not in_place.replaces
    assert updated.outs["assetId"] == created.id
    assert read.id == created.id and read.inputs["spec"]["branch"] == "release"
    assert stored["meta"]["id"] == created.id
    assert stored["meta"]["updateCount"] == 1
    assert stored["spec"]["branch"] == "release"
    assert stored["spec"]["credentialId"] == login.id
    assert moving.replaces == ["projectId"]
    assert replacement.id != created.id
    assert gone.id is None
