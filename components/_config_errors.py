"""Turn validation failures into lines a platform engineer can act on.

Each line starts with the stack config key path (`runai-hf:inferences[0].gpu`)
and says what is wrong with which value and what is allowed. Values that
might be secrets (unknown keys, `secure:` blocks, anything named like a
password or token) are never echoed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from .config import StackConfig

__all__ = ["config_key_path", "cross_reference_problems", "describe", "suggest"]

PROJECT_NAMESPACE = "runai-hf"
RUNAI_NAMESPACE = "runai"
_SECRET_NAME = re.compile(r"(token|secret|password|passwd|key)", re.IGNORECASE)


def config_key_path(loc: tuple[int | str, ...]) -> str:
    """`("inferences", 0, "gpu")` -> `runai-hf:inferences[0].gpu`."""
    if not loc:
        return PROJECT_NAMESPACE
    head, *rest = loc
    if head == "connection":
        if not rest:
            return "runai: connection keys (url, clientId, clusterId)"
        head, *rest = rest
        text = f"{RUNAI_NAMESPACE}:{head}"
    else:
        text = f"{PROJECT_NAMESPACE}:{head}"
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def describe(error: ValidationError, root: type[BaseModel]) -> list[str]:
    problems = []
    for item in error.errors():
        loc = tuple(part for part in item["loc"] if not _is_union_tag(part))
        message = _message(item, loc)
        if item["type"] == "extra_forbidden":
            message += suggest(root, loc)
        problems.append(f"{config_key_path(loc)}: {message}")
    return problems


def _is_union_tag(part: int | str) -> bool:
    # Pydantic puts union members and validator names into `loc`
    # (`function-after[...]`, `float`, `str`); they mean nothing to a user.
    if not isinstance(part, str):
        return False
    return (
        "[" in part or part.startswith("function-") or part in ("float", "str", "int")
    )


def _shown(value: Any, loc: tuple[int | str, ...]) -> str:
    name = str(loc[-1]) if loc else ""
    if isinstance(value, dict) and "secure" in value:
        return "[secret]"
    if _SECRET_NAME.search(name) and not name.endswith("Key"):
        return "[secret]"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


_BOUNDS = {
    "greater_than": ("above", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("below", "lt"),
    "less_than_equal": ("at most", "le"),
}


def _message(item: Any, loc: tuple[int | str, ...]) -> str:
    kind = item["type"]
    value = item.get("input")
    if kind == "value_error":
        return str(item["ctx"]["error"])
    if kind == "missing":
        return "is required but not set"
    if kind == "extra_forbidden":
        # The value is not shown: an unknown key may well hold a secret.
        return "is not a known setting"
    if kind == "literal_error":
        return (
            f"{_shown(value, loc)} is not allowed; expected {item['ctx']['expected']}"
        )
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{_shown(value, loc)} is not a mapping; write key: value pairs here"
    if kind == "list_type":
        return f"{_shown(value, loc)} is not a list; write a YAML list here"
    if kind == "too_short":
        return "is empty; give at least one entry"
    if kind == "string_type" and isinstance(value, int | float):
        return _quote_hint(value, loc)
    if kind in ("finite_number",):
        return f"{_shown(value, loc)} is not a finite number"
    bound = _BOUNDS.get(kind)
    if bound is not None:
        word, key = bound
        limit = item["ctx"][key]
        return f"{_shown(value, loc)} is out of range: it must be {word} {limit}"
    # Only the first letter is lowered: the rest may quote a value as written.
    text = str(item["msg"])
    return f"{_shown(value, loc)}: {text[:1].lower()}{text[1:]}"


def _quote_hint(value: float | bool, loc: tuple[int | str, ...]) -> str:
    """Text was expected, YAML read a number or yes/no: say to quote it.

    YAML turns an unquoted 1234567 into a number, 0400 into the octal number
    256 and yes into true; only the value as parsed reaches the config.
    """
    shown = _shown(value, loc)
    if shown == "[secret]":
        return "is not text: write the value in quotes"
    if isinstance(value, bool):
        return (
            f"{value} is a yes/no value, not text (YAML reads unquoted yes, no, "
            "on, off, true and false so): write the text in quotes"
        )
    if loc and loc[-1] == "defaultMode" and isinstance(value, int):
        if 0 <= value <= 0o777:
            # 0400 unquoted arrives as 256, but 444 arrives as 444: which one
            # was written cannot be told, so both readings are shown.
            mode = f"0{value:03o}"
            return (
                f"{value} is a number, not a file mode: write the mode in quotes, "
                f"such as '0644' (YAML reads an unquoted {mode} as the octal "
                f"number {value})"
            )
        return f"{value} is a number, not a file mode: write one in quotes, as '0644'"
    if isinstance(value, int):
        return f"{value} is a number, not text: write '{value}' in quotes"
    return (
        f"{value!r} is a number, not text (YAML read it as one): write the value "
        "in quotes, exactly as meant"
    )


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> Any:
    """The model class that holds the setting at `loc` (list indexes skipped)."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        if part not in fields:
            return None
        model = _inner_model(fields[part].annotation)
        if model is None:
            return None
    return model


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None


def suggest(root: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """`; did you mean X?` for a misspelt key, else the keys allowed there."""
    model = _model_at(root, loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return ""
    known = sorted(f.alias or name for name, f in model.model_fields.items())
    return closest(loc[-1], known)


def closest(word: str, known: list[str]) -> str:
    match = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if not match:
        lowered = {k.lower(): k for k in known}
        if word.lower() in lowered:
            match = [lowered[word.lower()]]
    if match:
        return f"; did you mean {match[0]}?"
    return f"; known settings here: {', '.join(known)}"


def _names(items: list[Any]) -> str:
    return ", ".join(item.name for item in items) or "none"


def cross_reference_problems(
    config: StackConfig, origins: Mapping[int, list[str]] | None = None
) -> list[str]:
    """References between sections: names exist, kinds fit, projects agree.

    `origins`: where each merged data source of an inference with a data
    source set was listed (`components._presets.SourceOrigins`).
    """
    problems: list[str] = []
    problems += _duplicates("projects", [p.name for p in config.projects])
    problems += _duplicates("credentials", [c.name for c in config.credentials])
    problems += _duplicates("modelStores", [s.name for s in config.model_stores])
    problems += _duplicates("dataSources", [d.name for d in config.data_sources])
    problems += _duplicates("inferences", [i.name for i in config.inferences])

    for section, items in (
        ("credentials", config.credentials),
        ("modelStores", config.model_stores),
        ("dataSources", config.data_sources),
        ("inferences", config.inferences),
    ):
        for index, item in enumerate(items):
            problems += _project_reference(
                config, section, index, getattr(item, "project", None)
            )
    if problems:
        return problems

    for index, inference in enumerate(config.inferences):
        listed = (origins or {}).get(index)
        problems += _inference_references(config, index, inference, listed)
        if "pulumi.com/stack" in inference.annotations:
            problems.append(
                f"{PROJECT_NAMESPACE}:inferences[{index}].annotations: "
                "pulumi.com/stack is reserved for the stack's ownership mark; use "
                "another key"
            )
    problems += _pinned_names(config)
    for index, source in enumerate(config.data_sources):
        problems += _source_credential(config, index, source)
    for index, project in enumerate(config.projects):
        if project.requested_namespace is None and len(project.name) > 57:
            problems.append(
                f"{PROJECT_NAMESPACE}:projects[{index}].name: {project.name!r} is "
                f"{len(project.name)} characters; its namespace runai-<name> allows "
                "57: shorten it or set requestedNamespace"
            )
    return problems


def _source_credential(config: StackConfig, index: int, source: Any) -> list[str]:
    """A data source's credential exists; git's is a password in its project."""
    if not source.credential:
        return []
    where = f"{PROJECT_NAMESPACE}:dataSources[{index}].credential"
    known = {c.name: c for c in config.credentials}
    credential = known.get(source.credential)
    if credential is None:
        return [
            f"{where}: {source.credential!r} is not a credential of this stack; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        ]
    if source.kind != "git":
        return []
    if credential.kind != "password":
        # The API also takes a generic secret holding an SSH key under `ssh`;
        # this stack's generic secrets hold HF_TOKEN, so only password fits.
        logins = [c.name for c in config.credentials if c.kind == "password"]
        return [
            f"{where}: {source.credential!r} is a {credential.kind} credential; a "
            "git data source signs in with a credential of kind password (user "
            f"and passwordKey); password credentials: {', '.join(logins) or 'none'}"
        ]
    project = config.project_of(source.project)
    if config.project_of(credential.project) != project:
        return [
            f"{where}: {source.credential!r} belongs to project "
            f"{config.project_of(credential.project)}, this data source to "
            f"{project}; Run:ai credentials serve their own project: use one there"
        ]
    return []


def _pinned_names(config: StackConfig) -> list[str]:
    """Run:ai names are unique per project and kind; two pins may not collide."""
    problems = []
    sections: tuple[tuple[str, list[Any]], ...] = (
        ("credentials", config.credentials),
        ("modelStores", config.model_stores),
        ("inferences", config.inferences),
    )
    for section, items in sections:
        seen: dict[tuple[str, str], int] = {}
        for index, item in enumerate(items):
            if item.runai_name is None:
                continue
            key = (config.project_of(item.project), item.runai_name)
            if key in seen:
                problems.append(
                    f"{PROJECT_NAMESPACE}:{section}[{index}].runaiName: "
                    f"{item.runai_name!r} is already pinned by {section}[{seen[key]}] "
                    f"in project {key[0]}; Run:ai names are unique per project"
                )
            seen.setdefault(key, index)
    return problems


def _duplicates(section: str, names: list[str]) -> list[str]:
    repeated = sorted({name for name in names if names.count(name) > 1})
    return [
        f"{PROJECT_NAMESPACE}:{section}: the name {name!r} is used more than once"
        for name in repeated
    ]


def _project_reference(
    config: StackConfig, section: str, index: int, project: Any
) -> list[str]:
    where = f"{PROJECT_NAMESPACE}:{section}[{index}].project"
    names = [p.name for p in config.projects]
    if project is None and len(names) > 1:
        listed = ", ".join(names)
        return [f"{where}: is required when the stack has several projects ({listed})"]
    if project is not None and project not in names:
        hint = closest(project, names)
        return [f"{where}: {project!r} is not a project of this stack{hint}"]
    return []


def _template_and_references(
    config: StackConfig, index: int, inference: Any
) -> list[str]:
    """A template brings its own environment and compute from Run:ai; a second
    Run:ai asset for either would leave no single answer to what is deployed."""
    if inference.template is None and inference.template_id is None:
        return []
    template = "template" if inference.template is not None else "templateId"
    problems = []
    for field, section in (
        ("environment", config.environments),
        ("compute", config.compute_resources),
    ):
        name = getattr(inference, field)
        if name is not None and (section.get(name) or {}).get("existing") is True:
            problems.append(
                f"{PROJECT_NAMESPACE}:inferences[{index}].{field}: {name!r} "
                f"references a Run:ai asset, and {template} brings the template's "
                f"own {field}: drop one of them (settings written in the stack may "
                "still override the template)"
            )
    return problems


def _inference_references(
    config: StackConfig, index: int, inference: Any, listed: list[str] | None
) -> list[str]:
    problems = _template_and_references(config, index, inference)
    where = f"{PROJECT_NAMESPACE}:inferences[{index}]"
    project = config.project_of(inference.project)
    in_project = [
        c for c in config.credentials if config.project_of(c.project) == project
    ]
    tokens = [c for c in in_project if c.kind == "huggingFace"]
    registries = [c for c in in_project if c.kind == "dockerRegistry"]
    if inference.hf_token is not None and inference.hf_token not in {
        c.name for c in tokens
    }:
        problems.append(
            f"{where}.hfToken: {inference.hf_token!r} is not a huggingFace credential "
            f"of project {project}; known: {_names(tokens)}"
        )
    if inference.hf_token is None and len(tokens) > 1:
        problems.append(
            f"{where}.hfToken: project {project} has several huggingFace credentials "
            f"({_names(tokens)}); name the one to use"
        )
    for position, name in enumerate(inference.image_pull_secrets):
        if name not in {c.name for c in registries}:
            problems.append(
                f"{where}.imagePullSecrets[{position}]: {name!r} is not a "
                f"dockerRegistry credential of project {project}; known: "
                f"{_names(registries)}"
            )
    for position, variable in enumerate(inference.env):
        if variable.credential and variable.credential not in {
            c.name for c in in_project
        }:
            problems.append(
                f"{where}.env[{position}].credential: {variable.credential!r} is not "
                f"a credential of project {project}; known: {_names(in_project)}"
            )
    problems += _store_reference(config, where, project, inference)
    problems += _volume_references(config, where, project, inference, listed)
    return problems


def _listed_at(where: str, position: int, listed: list[str] | None) -> str:
    """The key path to report a merged data source under, with its origin.

    One from the inference's data source set is reported under its
    `dataSourceSet`, naming the set's entry: the inference may list none.
    """
    if listed is None or position >= len(listed):
        return f"{where}.dataSources[{position}]"
    if listed[position].startswith(f"{PROJECT_NAMESPACE}:dataSourceSets."):
        return f"{where}.dataSourceSet ({listed[position]})"
    return listed[position]


def _volume_references(
    config: StackConfig,
    where: str,
    project: str,
    inference: Any,
    listed: list[str] | None = None,
) -> list[str]:
    problems = []
    sources = {
        d.name: d
        for d in config.data_sources
        if config.project_of(d.project) == project
    }
    store = config.model_store_of(inference)
    paths: dict[str, str] = (
        {store.mount_path: f"model store {store.name}"} if store else {}
    )
    if inference.data_sources and config.delivery_of(inference) == "knative":
        from_set = listed is not None and all(
            f"{where}.dataSources[" not in path for path in listed
        )
        key = f"{where}.dataSourceSet" if from_set else f"{where}.dataSources"
        return [
            f"{key}: data sources other than the model store are not mounted by "
            "Knative delivery yet; use delivery runaiApi for this inference"
        ]
    first: dict[str, int] = {}
    for position, name in enumerate(inference.data_sources):
        at = _listed_at(where, position, listed)
        if name in first:
            # Checked before the mount path, which would otherwise clash with
            # the same data source's first entry.
            problems.append(
                f"{at}: {name!r} is listed twice (also at "
                f"{_listed_at(where, first[name], listed)}); list each data "
                "source once"
            )
            continue
        first[name] = position
        source = sources.get(name)
        if source is None:
            problems.append(
                f"{at}: {name!r} is not a data source of project {project}; known: "
                f"{', '.join(sorted(sources)) or 'none'}"
            )
            continue
        if source.kind == "s3":
            problems.append(
                f"{at}: {name!r} is an S3 data source; Run:ai does not support S3 "
                "data sources for inference: copy the data into a PVC"
            )
        if source.mount_path is None:
            continue  # existing: its path is read from Run:ai when deploying
        if source.mount_path in paths:
            problems.append(
                f"{at}: {name!r} mounts at {source.mount_path}, where "
                f"{paths[source.mount_path]} already is; give it another mountPath"
            )
        paths.setdefault(source.mount_path, f"data source {name}")
    return problems


def _store_reference(
    config: StackConfig, where: str, project: str, inference: Any
) -> list[str]:
    stores = [s for s in config.model_stores if config.project_of(s.project) == project]
    if inference.model_store is not None:
        if inference.model_store not in {s.name for s in stores}:
            return [
                f"{where}.modelStore: {inference.model_store!r} is not a model store "
                f"of project {project}; known: {_names(stores)}"
            ]
        return []
    if len(stores) > 1:
        return [
            f"{where}.modelStore: project {project} has several model stores "
            f"({_names(stores)}); name the one to use"
        ]
    return []
