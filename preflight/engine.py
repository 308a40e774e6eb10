"""A stand-in for the Pulumi engine's part with dynamic resources. It is not Pulumi.

It runs the program under the SDK's mock runtime and, as each dynamic
resource registers, unpickles its provider from `__provider` (exactly what the
engine's provider host does), configures it with the stack's config and calls
`check`, then `create`, or `diff` and `update` or a replacement against the
previous run. Outputs flow back to the program, so dependants see them. Once
the program finishes, resources it no longer declares are deleted in reverse
dependency order.

State is a local JSON file. Secret inputs are never written: they are stored
as `[secret]`, which is enough because the providers keep only a digest of a
secret in their outputs and diff on that.

A resource registered with `retainOnDelete` leaves the state on delete without
its provider's delete being called, as with Pulumi.

What it does not do: previews with a plan, refresh, imports, protect, aliases,
parallelism limits, or any non-dynamic resource type.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dill
from pulumi.dynamic import ConfigureRequest, ResourceProvider
from pulumi.dynamic.config import Config as DynamicConfig
from pulumi.runtime import rpc

from components.config import PROJECT_NAMESPACE, load_stack_config
from components.errors import ConflictError

from ._runtime import Registration, run_program
from ._stackfile import SECRET_PLACEHOLDER, StackFile

__all__ = ["EngineError", "RunSummary", "SimulatedEngine"]

logger = logging.getLogger("runai_hf.engine")

DYNAMIC_PREFIX = "pulumi-python:dynamic"
PROVIDER_KEY = "__provider"
STATE_VERSION = 1


class EngineError(Exception):
    """A resource operation failed; the state keeps everything that succeeded."""


@dataclasses.dataclass
class RunSummary:
    """What one `up` or `destroy` did, counted per operation."""

    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    replaced: list[str] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    retained: list[str] = dataclasses.field(default_factory=list)
    """Dropped from state but left in Run:ai (the `retainOnDelete` option)."""
    lost: list[str] = dataclasses.field(default_factory=list)
    """Retained, yet gone afterwards: Run:ai deleted it with what it lived in."""
    unchanged: list[str] = dataclasses.field(default_factory=list)
    exports: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.updated
            or self.replaced
            or self.deleted
            or self.retained
            or self.lost
        )

    def counts(self) -> str:
        kinds = ("created", "updated", "replaced", "deleted", "retained", "lost")
        parts = [
            f"{len(getattr(self, kind))} {kind}"
            for kind in (*kinds, "unchanged")
            if getattr(self, kind)
        ]
        return ", ".join(parts) or "nothing to do"


def _provider_from(blob: str) -> ResourceProvider:
    provider: ResourceProvider = dill.loads(base64.b64decode(blob))
    return provider


def _plain(inputs: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Inputs without secret wrappers, and which top-level keys were secret."""
    secret_keys = {key for key, value in inputs.items() if rpc.is_rpc_secret(value)}
    plain = {
        key: rpc.unwrap_rpc_secret(value) if key in secret_keys else value
        for key, value in inputs.items()
    }
    return plain, secret_keys


def _redacted(values: dict[str, Any], secret_keys: set[str]) -> dict[str, Any]:
    return {
        key: SECRET_PLACEHOLDER if key in secret_keys else value
        for key, value in values.items()
    }


class _State:
    """The state file: resources by URN, saved after every change."""

    def __init__(self, path: Path, stack: str) -> None:
        self.path = path
        self.stack = stack
        self.lock = threading.Lock()
        self.resources: dict[str, dict[str, Any]] = {}
        if path.is_file():
            self.resources = self._load(path)

    @staticmethod
    def _load(path: Path) -> dict[str, dict[str, Any]]:
        try:
            loaded = json.loads(path.read_text())
            resources = loaded["resources"] if isinstance(loaded, dict) else None
        except (json.JSONDecodeError, KeyError):
            resources = None
        if not isinstance(resources, dict):
            raise EngineError(
                f"state file {path} is not the demo's state; move it aside (the "
                "objects it listed may still exist in Run:ai)"
            )
        return dict(resources)

    def put(self, urn: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.resources[urn] = entry
            self._save()

    def drop(self, urn: str) -> None:
        with self.lock:
            self.resources.pop(urn, None)
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "version": STATE_VERSION,
            "stack": self.stack,
            "note": "local demo state written by preflight's engine simulation; "
            "this is not Pulumi state",
            "resources": self.resources,
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2, sort_keys=True))
        os.replace(temporary, self.path)


def _refuse_knative_delivery(stack_file: StackFile) -> None:
    """Refuse before anything is applied, rather than halfway through."""
    config = load_stack_config(stack_file.get)
    knative = [
        f"{PROJECT_NAMESPACE}:inferences[{index}] ({inference.name})"
        for index, inference in enumerate(config.inferences)
        if config.delivery_of(inference) == "knative"
    ]
    if knative:
        raise EngineError(
            f"{', '.join(knative)} uses delivery knative: the local demo applies "
            "only Run:ai API inferences to the emulator (there is no Kubernetes "
            "here); set delivery: runaiApi for the demo, or check the Knative "
            "objects with `python -m preflight --stack <name> --render DIR` and "
            "apply them with `pulumi up`"
        )


class SimulatedEngine:
    """Apply and destroy a stack's dynamic resources against a live control plane."""

    def __init__(
        self,
        *,
        program_dir: Path,
        stack_file: StackFile,
        state_path: Path,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.program_dir = program_dir
        self.stack_file = stack_file
        self.state = _State(state_path, stack_file.stack)
        self.report = report or (lambda line: None)
        self._summary = RunSummary()

    def up(self) -> RunSummary:
        """Make the control plane match the program; return what changed."""
        self._summary = RunSummary()
        _refuse_knative_delivery(self.stack_file)
        run = run_program(
            self.program_dir, self.stack_file, self._register, preview=False
        )
        # Like the engine, delete last: objects no longer declared, and the
        # old halves of create-before-delete replacements, once every create
        # and update (dependants moving to the new objects) has run.
        declared = {r.urn for r in run.registrations if r.custom}
        stale = {
            key: entry
            for key, entry in self.state.resources.items()
            if key not in declared
        }
        self._delete_in_order(stale)
        self._summary.exports = {key: value for key, (value, _) in run.exports.items()}
        return self._summary

    def destroy(self) -> RunSummary:
        """Delete everything the state holds, dependants first."""
        self._summary = RunSummary()
        self._delete_in_order(dict(self.state.resources))
        return self._summary

    def _provider(self, blob: str) -> ResourceProvider:
        provider = _provider_from(blob)
        provider.configure(
            ConfigureRequest(
                DynamicConfig(dict(self.stack_file.config), self.stack_file.project)
            )
        )
        return provider

    def _register(
        self, registration: Registration
    ) -> tuple[str | None, dict[str, Any]]:
        if not registration.custom:
            return None, {}
        if not registration.type.startswith(DYNAMIC_PREFIX):
            raise EngineError(
                f"{registration.type} {registration.name}: the local demo applies only "
                "the Run:ai dynamic resources (Run:ai API delivery), not Kubernetes "
                "objects; apply this stack with `pulumi up` against a cluster"
            )
        inputs, secret_keys = _plain(registration.inputs)
        blob = str(inputs.pop(PROVIDER_KEY))
        provider = self._provider(blob)
        label = f"{registration.type.rsplit(':', 1)[-1]} {registration.name}"

        old = self._still_there(
            provider, label, self.state.resources.get(registration.urn)
        )
        checked = self._check(provider, label, old, inputs)
        started = time.monotonic()
        if old is None:
            id_, outputs = self._create(provider, label, checked)
            existing = bool(checked.get("existing"))
            if not existing:
                self._summary.created.append(label)
            verb = "found in Run:ai (only read)" if existing else "created"
        else:
            change = self._change(provider, label, old, checked)
            if change is None:
                checked = self._check(provider, label, None, inputs)
                id_, outputs = self._create(provider, label, checked)
                self._retire(registration.urn, old)
                verb = "replaced (created first)"
            else:
                id_, outputs, verb = change
        if verb != "unchanged":
            self.report(f"{label}: {verb} in {time.monotonic() - started:.1f} s")

        entry = {
            "type": registration.type,
            "name": registration.name,
            "id": id_,
            "provider": blob,
            "dependencies": registration.dependencies,
            "retainOnDelete": registration.retain_on_delete,
            "secretKeys": sorted(secret_keys),
            "inputs": _redacted(checked, secret_keys),
            "outputs": _redacted(outputs, secret_keys),
        }
        self.state.put(registration.urn, entry)
        return id_, {**outputs, PROVIDER_KEY: blob}

    def _still_there(
        self, provider: ResourceProvider, label: str, old: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The state entry, unless the object was deleted outside the stack."""
        if old is None:
            return None
        try:
            found = provider.read(old["id"], old["outputs"])
        except Exception as error:
            raise EngineError(f"{label}: could not read it: {error}") from error
        if found.id is None:
            self.report(f"{label}: gone from Run:ai (deleted outside the stack)")
            return None
        return old

    def _check(
        self,
        provider: ResourceProvider,
        label: str,
        old: dict[str, Any] | None,
        inputs: dict[str, Any],
    ) -> dict[str, Any]:
        result = provider.check((old or {}).get("inputs") or {}, inputs)
        if result.failures:
            reasons = "; ".join(f"{f.property}: {f.reason}" for f in result.failures)
            raise EngineError(f"{label}: invalid inputs: {reasons}")
        return dict(result.inputs or {})

    def _create(
        self, provider: ResourceProvider, label: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        self.report(f"{label}: creating")
        try:
            result = provider.create(inputs)
        except ConflictError as error:
            raise EngineError(
                f"{label}: create failed: {error}. Run:ai has an object of that name "
                "that this state does not list. If its description says it is "
                "managed by another stack, or it has none, it is not this stack's: "
                "give this one another name (runaiName). If it names this stack, a "
                "run was interrupted or the state file was lost: delete it in "
                "Run:ai, then apply again"
            ) from error
        except Exception as error:
            raise EngineError(f"{label}: create failed: {error}") from error
        return str(result.id), dict(result.outs or {})

    def _change(
        self,
        provider: ResourceProvider,
        label: str,
        old: dict[str, Any],
        news: dict[str, Any],
    ) -> tuple[str, dict[str, Any], str] | None:
        """Update or delete-first replace; None asks for create-before-delete."""
        diff = provider.diff(old["id"], old["outputs"], news)
        if not diff.changes:
            self._summary.unchanged.append(label)
            return old["id"], old["outputs"], "unchanged"
        if diff.replaces:
            self.report(
                f"{label}: replacing because {', '.join(diff.replaces)} changed"
            )
            self._summary.replaced.append(label)
            if not diff.delete_before_replace:
                return None
            if old.get("retainOnDelete"):
                self.report(f"{label}: the old one is retained, not deleted")
            else:
                self.report(f"{label}: deleting the old one first (its name is pinned)")
                self._provider(old["provider"]).delete(old["id"], old["outputs"])
            id_, outputs = self._create(provider, label, news)
            return id_, outputs, f"replaced ({', '.join(diff.replaces)})"
        self.report(f"{label}: updating")
        try:
            result = provider.update(old["id"], old["outputs"], news)
        except Exception as error:
            raise EngineError(f"{label}: update failed: {error}") from error
        self._summary.updated.append(label)
        return old["id"], dict(result.outs or {}), "updated"

    def _retire(self, urn: str, old: dict[str, Any]) -> None:
        """Keep the replaced object in state, marked, until the run deletes it."""
        self.state.put(f"{urn}#replaced-{old['id']}", {**old, "pendingDelete": True})

    def _delete_in_order(self, entries: dict[str, dict[str, Any]]) -> None:
        remaining = dict(entries)
        deleted: dict[str, str] = {}
        retained: dict[str, dict[str, Any]] = {}
        while remaining:
            needed = {
                dependency
                for entry in remaining.values()
                for dependency in entry.get("dependencies") or []
            }
            # A retired half of a replacement is keyed `<urn>#replaced-<id>`;
            # what depends on the URN depends on it too.
            leaves = [
                key for key in remaining if key.split("#", 1)[0] not in needed
            ] or list(remaining)
            for urn in leaves:
                entry = remaining.pop(urn)
                label = _label(entry)
                if entry.get("retainOnDelete"):
                    # Pulumi's retainOnDelete: out of the state, never deleted.
                    self.state.drop(urn)
                    retained[urn] = entry
                    continue
                existing = bool((entry.get("inputs") or {}).get("existing"))
                self.report(
                    f"{label}: left in place (it exists outside this stack)"
                    if existing
                    else f"{label}: deleting"
                )
                provider = self._provider(entry["provider"])
                try:
                    provider.delete(entry["id"], entry["outputs"])
                except Exception as error:
                    raise EngineError(f"{label}: delete failed: {error}") from error
                self.state.drop(urn)
                if existing:
                    continue
                if entry["type"].endswith(":Project") and _left_standing(
                    provider, entry
                ):
                    # The provider declined: others' objects are in it.
                    self._summary.retained.append(label)
                    continue
                self._summary.deleted.append(label)
                deleted[urn.split("#", 1)[0]] = label
        for entry in retained.values():
            self._report_retained(entry, deleted)

    def _report_retained(self, entry: dict[str, Any], deleted: dict[str, str]) -> None:
        """Say what was kept, and check it really was.

        The engine itself never looks again; the demo does, because Run:ai
        deletes a project's assets with the project, and a summary claiming
        a kept model store that is gone would mislead.
        """
        label = _label(entry)
        outputs = entry.get("outputs") or {}
        physical = outputs.get("name") or entry["id"]
        try:
            found = self._provider(entry["provider"]).read(entry["id"], outputs)
            still_there = found.id is not None
        except Exception:
            still_there = True  # unknown: do not claim it is gone
        if still_there and entry["type"].endswith(":Project"):
            self._summary.retained.append(label)
            self.report(
                f"{label}: retained in Run:ai as {physical} (retainOnDelete) because "
                "it holds a retained model store, which Run:ai would delete with "
                "it; its quota stays reserved and the next up adopts it. To let "
                "both go, set retainOnDestroy: false on its model stores, run up, "
                "then destroy"
            )
            return
        if still_there:
            self._summary.retained.append(label)
            self.report(
                f"{label}: retained in Run:ai as {physical} (retainOnDelete), no "
                "longer in this state; the next up adopts it. To let it go, set "
                "retainOnDestroy: false on it, run up, then destroy (or delete it "
                "in Run:ai)"
            )
            return
        self._summary.lost.append(label)
        owners = [deleted[d] for d in entry.get("dependencies") or [] if d in deleted]
        because = (
            f"Run:ai deleted it with {', '.join(owners)}, which this run deleted"
            if owners
            else "it is gone from Run:ai"
        )
        self.report(
            f"{label}: was to be retained (retainOnDelete), but {because}; to keep "
            "a model store across a destroy, put it in a project the stack does "
            "not own (existing: true)"
        )


def _label(entry: dict[str, Any]) -> str:
    return f"{entry['type'].rsplit(':', 1)[-1]} {entry['name']}"


def _left_standing(provider: ResourceProvider, entry: dict[str, Any]) -> bool:
    try:
        return provider.read(entry["id"], entry["outputs"]).id is not None
    except Exception:
        return False
