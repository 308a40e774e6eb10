"""Config rules and messages tightened after review: each test names a gap."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_config import VALID
from test_git_data_source import GIT, LOGIN

from components.config import StackConfig
from components.errors import ConfigError


def problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        StackConfig.from_values(values)
    return raised.value.problems


def with_sources(*sources: dict[str, Any], attach: list[str]) -> dict[str, Any]:
    values = copy.deepcopy(VALID)
    values["credentials"] = [{"name": "hf-token"}, dict(LOGIN)]
    values["dataSources"] = copy.deepcopy(list(sources))
    values["inferences"][0]["dataSources"] = attach
    return values


# -- git repository URLs carry no user information ---------------------------


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://ghp_token123@github.com/acme/x.git", "ghp_token123"),
        ("http://x-access-token:ghs_abc@github.com/acme/x.git", "ghs_abc"),
        ("https://deploy-bot@git.example.invalid/ml/prompts.git", "deploy-bot"),
        ("https://ghp_token123@/acme/x.git", "ghp_token123"),
        ("https://ghp_tok en@github.com/acme/x.git", "ghp_tok"),
    ],
)
def test_user_information_in_an_http_url_is_refused_unrepeated(
    url: str, secret: str
) -> None:
    found = problems(with_sources({**GIT, "repository": url}, attach=[]))

    assert len(found) == 1
    assert found[0].startswith("runai-hf:dataSources[0].repository: ")
    assert "before '@'" in found[0]
    assert "kind password" in found[0] and "credential:" in found[0]
    assert secret not in found[0]


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:org/repo.git",
        "ssh://git@host.example/org/repo.git",
        "https://github.com/acme/x.git",
    ],
)
def test_ssh_users_and_plain_https_stay_accepted(url: str) -> None:
    values = with_sources({**GIT, "repository": url, "credential": None}, attach=[])

    assert StackConfig.from_values(values).data_sources[0].repository == url


# -- data source sets reference nothing in Run:ai ---------------------------------


def sets_stack(**sets: Any) -> dict[str, Any]:
    values = copy.deepcopy(VALID)
    values["dataSources"] = [
        {
            "name": "corpus",
            "kind": "nfs",
            "server": "nfs.internal",
            "path": "/export",
            "mountPath": "/corpus",
        }
    ]
    values["dataSourceSets"] = sets
    return values


def test_an_existing_data_source_set_is_refused() -> None:
    values = sets_stack(shared={"existing": True, "runaiName": "x", "scope": "project"})
    values["inferences"][0]["dataSourceSet"] = "shared"

    found = problems(values)

    assert [line.split(":", 2)[1] for line in found] == [
        "dataSourceSets.shared.existing",
        "dataSourceSets.shared.runaiName",
        "dataSourceSets.shared.scope",
    ]
    assert "cannot reference an existing Run:ai asset" in found[0]
    assert "environments and computeResources" in found[0]
    assert "existing: true and list it in this set's dataSources" in found[0]


def test_unknown_set_keys_are_not_told_about_existing() -> None:
    found = problems(sets_stack(shared={"dataSources": ["corpus"], "exist": True}))

    assert found == [
        "runai-hf:dataSourceSets.shared.exist: is not a setting a data source set "
        "carries; known settings here: modelStore, dataSources"
    ]


# -- host paths are absolute, ConfigMap sub-paths descend -------------------------


HOST = {"name": "scratch", "kind": "hostPath", "mountPath": "/scratch"}
MAP = {"name": "tpl", "kind": "configMap", "configMap": "tpl", "mountPath": "/t"}


@pytest.mark.parametrize("path", ["relative/path", "/data/../etc", "data"])
def test_a_host_path_must_be_absolute(path: str) -> None:
    found = problems(with_sources({**HOST, "path": path}, attach=[]))

    assert found == [
        f"runai-hf:dataSources[0].path: {path!r} is not an absolute node path: a "
        "hostPath data source mounts a directory of the node, such as /mnt/data "
        "(starting with '/', no '..' segments)"
    ]


@pytest.mark.parametrize("sub_path", ["../../etc/passwd", "/etc/passwd", "a/../b", ""])
def test_a_config_map_sub_path_is_a_relative_key_path(sub_path: str) -> None:
    found = problems(with_sources({**MAP, "subPath": sub_path}, attach=[]))

    assert found == [
        f"runai-hf:dataSources[0].subPath: {sub_path!r} is not a relative key "
        "path: give the ConfigMap key to mount (or a path below it), such as "
        "template.jinja, without a leading '/' or '..' segments"
    ]


def test_good_host_paths_and_sub_paths_pass() -> None:
    values = with_sources(
        {**HOST, "path": "/mnt/data"},
        {**MAP, "subPath": "conf/template..jinja"},
        attach=["scratch", "tpl"],
    )

    sources = StackConfig.from_values(values).data_sources
    assert (sources[0].path, sources[1].sub_path) == (
        "/mnt/data",
        "conf/template..jinja",
    )


# -- numbers where text is expected; readable patterns ----------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {**GIT, "revision": 1234567},
            "runai-hf:dataSources[0].revision: 1234567 is a number, not text: "
            "write '1234567' in quotes",
        ),
        (
            {**MAP, "defaultMode": 0o400},
            "runai-hf:dataSources[0].defaultMode: 256 is a number, not a file mode: "
            "write the mode in quotes, such as '0644' (YAML reads an unquoted 0400 "
            "as the octal number 256)",
        ),
        (
            {**GIT, "branch": 1.10},
            "runai-hf:dataSources[0].branch: 1.1 is a number, not text (YAML read "
            "it as one): write the value in quotes, exactly as meant",
        ),
        (
            {**GIT, "branch": True},
            "runai-hf:dataSources[0].branch: True is a yes/no value, not text (YAML "
            "reads unquoted yes, no, on, off, true and false so): write the text in "
            "quotes",
        ),
        (
            {**MAP, "defaultMode": "0999"},
            "runai-hf:dataSources[0].defaultMode: '0999' is not a file mode: write a "
            "0 and three octal digits, in quotes, such as '0644' or '0400'",
        ),
    ],
)
def test_unquoted_yaml_values_get_a_hint_to_quote_them(
    source: dict[str, Any], expected: str
) -> None:
    assert problems(with_sources(source, attach=[])) == [expected]


def test_a_quoted_mode_and_revision_pass() -> None:
    values = with_sources(
        {**GIT, "revision": "1234567"}, {**MAP, "defaultMode": "0400"}, attach=[]
    )

    git, config_map = StackConfig.from_values(values).data_sources
    assert (git.revision, config_map.default_mode) == ("1234567", "0400")


def test_a_bad_template_id_is_said_not_to_be_a_uuid() -> None:
    values = copy.deepcopy(VALID)
    values["inferences"][0]["templateId"] = "4EBB4567-not-a-uuid"

    assert problems(values) == [
        "runai-hf:inferences[0].templateId: '4EBB4567-not-a-uuid' is not a UUID "
        "(such as 4ebb4567-6dc7-53ea-b9cd-401715881a88): copy the template's id "
        "from Run:ai, or name it in template instead"
    ]
    values["inferences"][0]["templateId"] = "4EBB4567-6DC7-53EA-B9CD-401715881A88"
    assert StackConfig.from_values(values).inferences[0].template_id


# -- data sources listed twice, clashes from a set, every set suggested -----------


def nfs(name: str, mount_path: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "nfs",
        "server": "nfs.internal",
        "path": "/export",
        "mountPath": mount_path,
    }


def test_a_data_source_listed_twice_is_said_to_be() -> None:
    values = with_sources(nfs("corpus", "/corpus"), attach=["corpus", "corpus"])

    assert problems(values) == [
        "runai-hf:inferences[0].dataSources[1]: 'corpus' is listed twice (also at "
        "runai-hf:inferences[0].dataSources[0]); list each data source once"
    ]


def test_a_data_source_listed_twice_beside_a_set_is_said_to_be() -> None:
    values = sets_stack(shared={"dataSources": ["corpus"]})
    values["dataSources"].append(nfs("extra", "/extra"))
    values["inferences"][0].update(
        dataSourceSet="shared", dataSources=["corpus", "extra", "extra"]
    )

    assert problems(values) == [
        "runai-hf:inferences[0].dataSources[2]: 'extra' is listed twice (also at "
        "runai-hf:inferences[0].dataSources[1]); list each data source once"
    ]


def test_a_set_listing_a_data_source_twice_is_refused() -> None:
    values = sets_stack(shared={"dataSources": ["corpus", "corpus"]})

    assert problems(values) == [
        "runai-hf:dataSourceSets.shared.dataSources[1]: 'corpus' is listed twice "
        "(also at dataSources[0]); list each data source once"
    ]


def test_a_clash_from_a_set_names_the_set_not_the_inferences_list() -> None:
    values = sets_stack(shared={"dataSources": ["corpus", "clash"]})
    values["dataSources"].append(nfs("clash", "/models"))
    values["inferences"][0]["dataSourceSet"] = "shared"

    assert problems(values) == [
        "runai-hf:inferences[0].dataSourceSet "
        "(runai-hf:dataSourceSets.shared.dataSources[1]): 'clash' mounts at "
        "/models, where model store models already is; give it another mountPath"
    ]


def test_an_own_clash_beside_a_set_names_its_position_as_written() -> None:
    values = sets_stack(shared={"dataSources": ["corpus"]})
    values["dataSources"].append(nfs("clash", "/corpus"))
    values["inferences"][0].update(dataSourceSet="shared", dataSources=["clash"])

    assert problems(values) == [
        "runai-hf:inferences[0].dataSources[0]: 'clash' mounts at /corpus, where "
        "data source corpus already is; give it another mountPath"
    ]


def test_an_unknown_set_is_offered_every_set_defined() -> None:
    values = sets_stack(
        good={"dataSources": ["corpus"]}, broken={"dataSources": ["nothing"]}
    )
    values["inferences"][0]["dataSourceSet"] = "zzz"

    found = problems(values)

    assert found[-1] == (
        "runai-hf:inferences[0].dataSourceSet: 'zzz' is not a data source set of "
        "this stack; runai-hf:dataSourceSets has broken, good"
    )


def test_naming_a_defined_but_broken_set_reports_only_the_set() -> None:
    values = sets_stack(broken={"dataSources": ["nothing"]})
    values["inferences"][0]["dataSourceSet"] = "broken"

    found = problems(values)

    assert len(found) == 1
    assert found[0].startswith("runai-hf:dataSourceSets.broken.dataSources[0]: ")


# -- the generated reference says what the keys take -------------------------------


def reference_types() -> dict[str, str]:
    from components._reference import render

    rows = [
        line.split(" | ") for line in render().splitlines() if line.startswith("| `")
    ]
    return {row[0].strip("| `"): row[1] for row in rows}


@pytest.mark.parametrize("key", ["environments", "computeResources", "dataSourceSets"])
def test_reference_shows_presets_as_named_settings(key: str) -> None:
    assert reference_types()[f"runai-hf:{key}"] == "mapping of name to settings"


@pytest.mark.parametrize(
    "key",
    ["initializationTimeout", "requestTimeout", "scaleToZeroAfter", "rolloutTimeout"],
)
def test_reference_shows_durations_as_seconds_or_text(key: str) -> None:
    assert reference_types()[f"runai-hf:inferences[].{key}"] == (
        "duration: seconds (`300`) or `90s`, `10m`, `1h30m`"
    )


def test_reference_keeps_plain_string_mappings() -> None:
    types = reference_types()

    assert types["runai-hf:inferences[].labels"] == "mapping of strings"
    assert types["runai-hf:gpuMemoryPerNodePool"] == "mapping of strings"
