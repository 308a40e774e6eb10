"""What changing a stack file does to each Run:ai object, worked out offline.

`python -m preflight --stack NAME --baseline OLD.yaml` runs the program twice
under the mock runtime, in preview mode as the plan does: with the old stack
file and with the new one. Custom resources are matched by URN, and for each
one in both runs its own provider answers what the engine would ask it:
`check` the new inputs against the old ones, then `diff` the old outputs
against the checked inputs. Nothing reaches Run:ai.

Three stand-ins replace what only a real deployment knows:

* The old outputs are the old inputs as `check` returned them (the providers'
  `create` echoes its inputs), plus `<key>Digest` for each secret input: the
  providers keep that digest instead of the secret and diff on it.
* A value known only after apply compares as a placeholder: unknown in both
  runs at the same place is equal, so it changes nothing by itself; unknown in
  one run and known in the other differs, with a note that it may not. Where a
  dependency is replaced or dropped, a note says which unknowns may change.
* A `secure:` value cannot be decrypted here. When its ciphertext differs
  from the baseline's, the new run gets another placeholder, so whatever holds
  it (an HF token credential) shows as replaced.

TODO: `--baseline` with `--online`, a change plan against what Run:ai holds
rather than against an old stack file, is missing (plain `--online` only
resolves `existing: true` references). Users must keep the old stack file to
see what an edit does. The providers' `read` needs each object's id, which
only Pulumi state has; it would need a lookup by name and project per
provider (the credential and project providers already have one), then `read`
(one or two GETs per object: inferences read the workload too) through the
stack's connection, so RUNAI_CLIENT_SECRET on the machine and a token request
per run. Secrets stay unknown even then: Run:ai never returns them and only
the state keeps their digest, so credential values could not be compared.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import dill
import yaml
from pulumi.dynamic import CheckResult, ConfigureRequest, DiffResult, ResourceProvider
from pulumi.dynamic.config import Config as DynamicConfig
from pulumi.output import Unknown
from pulumi.runtime import rpc

from components._providers import LookupProvider
from components._providers._base import secret_digest
from components._values import normalize
from components.errors import RunaiHFError

from ._plan import in_plan_order
from ._runtime import ProgramRun, Registration
from ._stackfile import StackFile, StackFileError, load_stack_file

__all__ = [
    "ONLINE_UNAVAILABLE",
    "REENCRYPTED",
    "UNKNOWN",
    "Change",
    "ChangePlan",
    "ChangePlanError",
    "changes_json",
    "compare_runs",
    "load_baseline",
    "mark_reencrypted",
    "plan_changes",
    "render_changes",
]

Action = Literal["create", "update", "replace", "delete", "unchanged"]
PlanRunner = Callable[[StackFile], ProgramRun]

ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "delete", "unchanged")
PROVIDER_KEY = "__provider"
PREVIEW_ID = "preview"
UNKNOWN = "(known after apply)"
REENCRYPTED = "[secret, re-encrypted]"
INFERENCE = "Inference"
DATA_SOURCE = "DataSource"
ONLINE_UNAVAILABLE = (
    "--online is not available yet with --baseline: the change plan compares "
    "two stack files "
    "offline; comparing with the objects in Run:ai needs a lookup of each "
    "object's id, which only Pulumi state holds"
)


class ChangePlanError(RunaiHFError):
    """The change plan cannot be worked out: invalid inputs or a failing provider."""


@dataclasses.dataclass(frozen=True)
class Change:
    """What happens to one custom resource, the fields responsible, and notes."""

    urn: str
    type: str
    name: str
    action: Action
    fields: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ChangePlan:
    """The new stack's run (for the plan table and policies) and its changes."""

    baseline: Path
    run: ProgramRun
    changes: list[Change]


def load_baseline(project_dir: Path, stack: str, path: Path) -> StackFile:
    """Read OLD.yaml, wherever it is, exactly as the stack's own file is read."""
    if not path.is_file():
        raise FileNotFoundError(f"no baseline stack file {path}")
    project_file = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    # load_stack_file finds a stack's file by name in stackConfigDir: a scratch
    # project with the same Pulumi.yaml and the old file under that name lets
    # it merge the defaults and refuse what it refuses, for the baseline too.
    project_file.pop("stackConfigDir", None)
    with tempfile.TemporaryDirectory(prefix="preflight-baseline-") as scratch:
        directory = Path(scratch)
        (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project_file))
        copy = directory / f"Pulumi.{stack}.yaml"
        shutil.copyfile(path, copy)
        try:
            loaded = load_stack_file(directory, stack)
        except StackFileError as error:
            message = str(error).replace(str(copy), str(path))
            where = "baseline " if str(path) in message else f"baseline {path}: "
            raise StackFileError(where + message) from None
    return dataclasses.replace(loaded, path=path)


def _ciphertexts(stack_file: StackFile) -> dict[str, str]:
    """Each `secure:` value's ciphertext, by fully qualified key."""
    document = yaml.safe_load(stack_file.path.read_text()) or {}
    return {
        key if ":" in key else f"{stack_file.project}:{key}": str(value["secure"])
        for key, value in (document.get("config") or {}).items()
        if isinstance(value, dict) and set(value) == {"secure"}
    }


def mark_reencrypted(old: StackFile, new: StackFile) -> StackFile:
    """`new`, where a secure value whose ciphertext changed has its own placeholder.

    Both files' secure values would otherwise get the same placeholder, and a
    rotated token would look unchanged.
    """
    before, after = _ciphertexts(old), _ciphertexts(new)
    rotated = {
        key: REENCRYPTED
        for key, ciphertext in after.items()
        if key in before and before[key] != ciphertext
    }
    if not rotated:
        return new
    return dataclasses.replace(new, config={**new.config, **rotated})


def plan_changes(old: StackFile, new: StackFile, *, run_plan: PlanRunner) -> ChangePlan:
    """Run the program for both stack files with `run_plan`; compare the runs."""
    marked = mark_reencrypted(old, new)
    new_run = run_plan(marked)
    try:
        old_run = run_plan(old)
    except RunaiHFError as error:
        raise ChangePlanError(f"baseline {old.path}: {error}") from error

    changes = compare_runs(old_run, new_run, config=marked)
    return ChangePlan(baseline=old.path, run=new_run, changes=changes)


def compare_runs(
    old: ProgramRun, new: ProgramRun, *, config: StackFile
) -> list[Change]:
    """One change per custom resource of either run, in plan order."""
    olds = {r.urn: r for r in old.custom()}
    news = {r.urn: r for r in new.custom()}
    changes: dict[str, Change] = {}
    for urn, registration in news.items():
        if urn in olds:
            changes[urn] = _compared(olds[urn], registration, config)
        else:
            changes[urn] = _created(registration, config)
    gone = [olds[urn] for urn in olds if urn not in news]
    for registration in gone:
        changes[registration.urn] = _deleted(registration)

    changes = _with_dependency_notes(changes, olds, news)
    return [changes[r.urn] for r in in_plan_order([*news.values(), *gone])]


@dataclasses.dataclass(frozen=True)
class _Resource:
    """One registration as its provider would see it, with its provider."""

    registration: Registration
    inputs: dict[str, Any]
    secret_keys: frozenset[str]
    provider: ResourceProvider

    @classmethod
    def of(cls, registration: Registration, config: StackFile) -> _Resource:
        blob = str(_plain(registration.inputs.get(PROVIDER_KEY, "")))
        secret_keys = frozenset(
            key
            for key, value in registration.inputs.items()
            if key != PROVIDER_KEY and _has_secret(value)
        )
        inputs = cls.plain_inputs(registration)
        return cls(registration, inputs, secret_keys, _provider(blob, config))

    @staticmethod
    def plain_inputs(registration: Registration) -> dict[str, Any]:
        """The inputs without `__provider`, secrets unwrapped, unknowns as UNKNOWN."""
        return {
            key: _plain(value)
            for key, value in registration.inputs.items()
            if key != PROVIDER_KEY
        }

    @property
    def type(self) -> str:
        return _short_type(self.registration.type)

    @property
    def label(self) -> str:
        return f"{self.type} {self.registration.name}"

    def check(self, olds: dict[str, Any]) -> dict[str, Any]:
        """The inputs after the provider's `check`, as the engine would pass them on."""
        try:
            result: CheckResult = self.provider.check(olds, dict(self.inputs))
        except Exception as error:
            raise ChangePlanError(f"{self.label}: check failed: {error}") from error
        if result.failures:
            # Provider messages never carry secret values (components.errors).
            reasons = "; ".join(f"{f.property}: {f.reason}" for f in result.failures)
            raise ChangePlanError(f"{self.label}: invalid inputs: {reasons}")
        return dict(result.inputs or {})

    def diff(self, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if isinstance(self.provider, LookupProvider):
            # Its full diff reads Run:ai again; the plan stays offline.
            return self.provider.diff_names(olds, news)
        try:
            return self.provider.diff(PREVIEW_ID, olds, news)
        except Exception as error:
            raise ChangePlanError(f"{self.label}: diff failed: {error}") from error


def _provider(blob: str, config: StackFile) -> ResourceProvider:
    """The provider from `__provider`, configured as the engine's provider host does."""
    if not blob:
        # Not a dynamic resource: the base class checks nothing and answers
        # "unknown" to diff, and then the engine compares inputs itself.
        return ResourceProvider()
    provider: ResourceProvider = dill.loads(base64.b64decode(blob))
    provider.configure(
        ConfigureRequest(DynamicConfig(dict(config.config), config.project))
    )
    return provider


def _plain(value: Any) -> Any:
    """`value` as a provider gets it: secrets unwrapped, unknowns as UNKNOWN."""
    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _has_secret(value: Any) -> bool:
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(_has_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_secret(item) for item in value)
    return False


def _has_unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_unknown(item) for item in value)
    return bool(value == UNKNOWN)


def _short_type(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def _created(registration: Registration, config: StackFile) -> Change:
    resource = _Resource.of(registration, config)
    # The engine checks a new resource's inputs before it creates it; a
    # failure there would stop `pulumi up`, so it stops the plan too.
    resource.check({})
    notes = ["new endpoint URL"] if resource.type == INFERENCE else []
    return _change(registration, "create", notes=notes)


def _deleted(registration: Registration) -> Change:
    type_ = _short_type(registration.type)
    notes = ["its endpoint URL stops answering"] if type_ == INFERENCE else []
    if registration.retain_on_delete:
        notes = ["retained: dropped from the state, left in Run:ai (retainOnDestroy)"]
    return _change(registration, "delete", notes=notes)


def _change(
    registration: Registration,
    action: Action,
    *,
    fields: list[str] | None = None,
    notes: list[str] | None = None,
) -> Change:
    return Change(
        urn=registration.urn,
        type=_short_type(registration.type),
        name=registration.name,
        action=action,
        fields=list(fields or []),
        notes=list(notes or []),
    )


def _compared(old: Registration, new: Registration, config: StackFile) -> Change:
    before, after = _Resource.of(old, config), _Resource.of(new, config)
    # What the old deployment's state holds: its inputs as `check` returned
    # them when it was created (an auto-named object's name is chosen there).
    old_inputs = before.check({})
    news = after.check(old_inputs)
    result = after.diff(_old_outputs(old_inputs, before.secret_keys), news)

    paths = _changed_paths(old_inputs, news)
    action = _action(result, paths)
    if action == "unchanged":
        return _change(new, action)

    if action == "replace":
        fields = list(result.replaces or [])
        notes = _replace_notes(after, result, old_inputs=old_inputs)
    else:
        fields, notes = paths, [_update_note(after.type)]
    notes += _field_notes(fields, old_inputs, news)
    return _change(new, action, fields=fields, notes=notes)


def _action(result: DiffResult, paths: list[str]) -> Action:
    # A provider that does not know (`changes` None) leaves it to the engine,
    # which then updates whenever the inputs differ.
    changed = bool(paths) if result.changes is None else bool(result.changes)
    if not changed:
        return "unchanged"
    return "replace" if result.replaces else "update"


def _old_outputs(inputs: dict[str, Any], secret_keys: frozenset[str]) -> dict[str, Any]:
    """The old outputs: the checked inputs, and a digest of each secret input.

    The providers keep `<key>Digest` in outputs instead of a secret and diff a
    new value against it, so that is what they need to find.
    """
    digests = {
        f"{key}Digest": secret_digest(str(inputs[key]))
        for key in secret_keys
        if isinstance(inputs.get(key), str)
    }
    return {**inputs, **digests}


def _changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths of what differs, down through mappings; a list counts whole."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys = sorted((set(old) | set(new)) - {PROVIDER_KEY})
        return [
            path
            for key in keys
            for path in _changed_paths(old.get(key), new.get(key), f"{prefix}{key}.")
        ]
    if normalize(old) == normalize(new):
        return []
    return [prefix.removesuffix(".")]


def _value_at(inputs: Mapping[str, Any], path: str) -> Any:
    value: Any = inputs
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _update_note(type_: str) -> str:
    if type_ == INFERENCE:
        return (
            "rolling update: a new revision takes over once it is ready; "
            "same endpoint URL"
        )
    return "in place"


def _replace_notes(
    resource: _Resource, result: DiffResult, *, old_inputs: dict[str, Any]
) -> list[str]:
    delete_first = bool(result.delete_before_replace)
    if resource.registration.retain_on_delete:
        notes = [
            "the old one is retained, not deleted (retainOnDestroy); a pinned "
            "name is still taken by it, so the create fails until it is renamed"
            if delete_first
            else "creates the new one first; the old one is retained, not "
            "deleted (retainOnDestroy)"
        ]
    elif delete_first:
        notes = ["deletes the old one first: a short outage"]
    else:
        notes = ["creates the new one first, then deletes the old one"]

    if resource.type == INFERENCE:
        # The engine checks a replacement's inputs again without the old
        # ones, so an auto-named object gets a fresh name, and a new URL.
        replacement = resource.check({})
        notes.append(_endpoint_note(old_inputs, replacement, result.replaces or []))
    elif resource.type == DATA_SOURCE:
        notes += _data_source_replace_notes(resource.inputs)
    return notes


def _data_source_replace_notes(inputs: Mapping[str, Any]) -> list[str]:
    """What replacing a data source means, by kind.

    Only a PVC model store holds data the servers wrote (the weights); the
    other kinds point at data held elsewhere, and inferences mount them
    inline (`spec.storage`), not by asset id.
    """
    if inputs.get("kind", "pvc") == "pvc":
        if inputs.get("existingPvc"):
            return []
        return ["a new, empty volume: the servers download the weights again"]
    return [
        "a new Run:ai data source asset; the data it points at stays where it is. "
        "Inferences mount it inline, so they change only if its mount settings "
        "changed"
    ]


def _endpoint_note(
    old_inputs: Mapping[str, Any], replacement: Mapping[str, Any], replaces: list[str]
) -> str:
    """The URL follows the workload name and project; does the replacement keep them?"""
    moved = "projectId" in replaces or any(
        replacement.get(key) != old_inputs.get(key) for key in ("name", "project")
    )
    if moved or replacement.get("name") == UNKNOWN:
        return "new endpoint URL (it follows the workload name and project)"
    return "same endpoint URL, but it does not answer until the new workload runs"


def _field_notes(
    fields: list[str], old_inputs: Mapping[str, Any], news: Mapping[str, Any]
) -> list[str]:
    notes = []
    unknown = [
        field
        for field in fields
        if _has_unknown(_value_at(old_inputs, field))
        or _has_unknown(_value_at(news, field))
    ]
    if unknown:
        notes.append(f"{', '.join(unknown)}: known only after apply, may not change")
    if any(_value_at(news, field) == REENCRYPTED for field in fields):
        notes.append(
            "the secure value's ciphertext changed; the value itself cannot be "
            "compared offline"
        )
    return notes


def _with_dependency_notes(
    changes: dict[str, Change],
    olds: Mapping[str, Registration],
    news: Mapping[str, Registration],
) -> dict[str, Change]:
    """Warn where values known only after apply may still change a resource.

    Unknown in both runs compares equal, but a replaced dependency's outputs
    are new, and a dependency no longer used no longer supplies them. The
    recorded registrations do not say which input came from which resource,
    so this names both sides and leaves the verdict to the provider's.
    """
    replaced = {urn for urn, change in changes.items() if change.action == "replace"}
    noted = dict(changes)
    for urn, change in changes.items():
        if change.action not in ("unchanged", "update"):
            continue
        old_deps, new_deps = set(olds[urn].dependencies), set(news[urn].dependencies)
        sources = [
            f"{_label(changes, dep)} (replaced)" for dep in sorted(new_deps & replaced)
        ]
        sources += [
            f"{_label(changes, dep)} (no longer used)"
            for dep in sorted(old_deps - new_deps)
        ]
        unknown = _unknown_paths(_Resource.plain_inputs(news[urn]))
        if sources and unknown:
            note = (
                f"may change too: {', '.join(unknown)} are known only after apply; "
                f"their sources include {', '.join(sources)}"
            )
            noted[urn] = dataclasses.replace(change, notes=[*change.notes, note])
        created_first = [
            dep
            for dep in new_deps & replaced
            if any("creates the new one first" in n for n in changes[dep].notes)
        ]
        supplied = [
            path
            for dep in created_first
            for path in unknown
            if path.startswith(_SUPPLIES.get(changes[dep].type, ("-",)))
        ]
        if supplied and change.type.endswith("Inference"):
            noted[urn] = _follows_new_names(noted[urn], supplied)
    return noted


_SUPPLIES: dict[str, tuple[str, ...]] = {
    "DataSource": ("spec.storage",),
    "Credential": ("spec.environmentVariables", "spec.imagePullSecrets"),
}
"""Which inference fields a dependency of each type fills with its names."""


def _follows_new_names(change: Change, unknown: list[str]) -> Change:
    """A dependency created first under a new name hands the inference new
    Kubernetes names: certain to change, and a replacement where the field is
    creation-only (a model store's claim in `spec.storage`)."""
    from components._providers import INFERENCE_UPDATABLE_SPEC_FIELDS

    fields = [p for p in unknown if p.startswith("spec.")]
    if not fields:
        return change
    create_only = [
        p for p in fields if p.split(".")[1] not in INFERENCE_UPDATABLE_SPEC_FIELDS
    ]
    action: Action = "replace" if create_only else "update"
    if change.action == "replace":
        return change
    note = (
        "a dependency is created first under a new name, so "
        f"{', '.join(create_only or fields)} will change"
    )
    return dataclasses.replace(
        change,
        action=action,
        fields=sorted({*change.fields, *(create_only or fields)}),
        notes=[*change.notes, note],
    )


def _unknown_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths holding a value known only after apply; a list counts whole."""
    if isinstance(value, Mapping):
        return [
            path
            for key in sorted(value)
            for path in _unknown_paths(value[key], f"{prefix}{key}.")
        ]
    return [prefix.removesuffix(".")] if _has_unknown(value) else []


def _label(changes: Mapping[str, Change], urn: str) -> str:
    change = changes.get(urn)
    return f"{change.type} {change.name}" if change else urn.rsplit("::", 1)[-1]


def changes_json(plan: ChangePlan) -> list[dict[str, Any]]:
    """The `changes` entries of `--json`: urn, type, name, action, fields, notes."""
    return [change.as_json() for change in plan.changes]


_HEADINGS = ("ACTION", "TYPE", "NAME", "FIELDS", "NOTE")


def _summary(plan: ChangePlan) -> str:
    counts = collections.Counter(change.action for change in plan.changes)
    parts = [f"{counts[action]} {action}" for action in ACTIONS if counts[action]]
    return f"changes from {plan.baseline}: {', '.join(parts) or 'no resources'}"


def render_changes(plan: ChangePlan) -> str:
    """A summary line, then one row per resource: action, fields, notes."""
    rows = [
        (
            change.action,
            change.type,
            change.name,
            ", ".join(change.fields) or "-",
            "; ".join(change.notes) or "-",
        )
        for change in plan.changes
    ]
    widths = [
        max([len(heading)] + [len(row[index]) for row in rows])
        for index, heading in enumerate(_HEADINGS)
    ]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    return "\n".join([_summary(plan), line(_HEADINGS), *(line(row) for row in rows)])
