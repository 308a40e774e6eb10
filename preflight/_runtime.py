"""Run a Pulumi program in process under the SDK's mock runtime, recording it.

The mock monitor answers every resource registration; this subclass also
keeps what the engine would see (parent, dependencies, inputs) and lets a
handler decide each resource's id and outputs, so the same runner serves the
offline plan (echo inputs, outputs unknown) and the local apply (call the
real dynamic providers).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import runpy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from ._stackfile import StackFile

__all__ = ["Registration", "ProgramRun", "run_program", "reset_runtime"]

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclasses.dataclass
class Registration:
    """One resource as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: str | None = None
    retain_on_delete: bool = False
    """The `retainOnDelete` option: a delete only drops it from state."""


Handler = Callable[[Registration], tuple[str | None, dict[str, Any]]]


@dataclasses.dataclass
class ProgramRun:
    """What one run of the program registered and exported."""

    registrations: list[Registration]
    exports: dict[str, tuple[Any, bool]]

    def custom(self) -> list[Registration]:
        return [r for r in self.registrations if r.custom]

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        raise AssertionError("the recording monitor handles registrations itself")

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


@contextlib.contextmanager
def _thread_event_loop() -> Iterator[None]:
    # Registrations run on executor threads; (de)serializing there needs an
    # event loop of that thread's own, closed again so none leaks.
    try:
        asyncio.get_event_loop()
        yield
        return
    except RuntimeError:
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, handler: Handler) -> None:
        super().__init__(_Mocks())
        self.handler = handler
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        from pulumi.runtime.proto import resource_pb2

        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)

        with _thread_event_loop():
            registration = Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                dependencies=list(request.dependencies),
                inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                retain_on_delete=bool(request.retainOnDelete),
            )
            id_, state = self.handler(registration)
            registration.id, registration.outputs = id_, dict(state)
            self.registrations.append(registration)
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(
                urn, id_ or "", state
            )
            serialized = _sync_await(rpc.serialize_properties(state, {}))
            return resource_pb2.RegisterResourceResponse(
                urn=urn, id=id_ or "", object=serialized
            )


def _quiet_unretrieved(
    loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    # When a registration fails, the SDK fails every output future of that
    # resource with the same error; run_program raises it once, so the
    # copies nobody awaited are not worth a traceback each.
    if "never retrieved" in str(context.get("message", "")):
        return
    loop.default_exception_handler(context)


def reset_runtime() -> None:
    """Forget the last run's root stack, config and pending work."""
    pulumi_settings.ROOT.set(None)
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config({}, [])


def run_program(
    program_dir: Path,
    stack_file: StackFile,
    handler: Handler,
    *,
    preview: bool,
) -> ProgramRun:
    """Execute `program_dir/__main__.py` as the language host would."""
    reset_runtime()
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet_unretrieved)
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_all_config(
        dict(stack_file.config), sorted(stack_file.secret_keys)
    )
    monitor = _RecordingMonitor(handler)
    pulumi.runtime.set_mocks(
        _Mocks(),
        project=stack_file.project,
        stack=stack_file.stack,
        preview=preview,
        monitor=monitor,
    )

    root = str(program_dir.resolve())
    added = root not in sys.path
    if added:
        sys.path.insert(0, root)
    try:
        program = str(Path(root) / "__main__.py")

        def body() -> None:
            runpy.run_path(program, run_name="__main__")

        _sync_await(run_pulumi_func(body))
        exports = _sync_await(_resolve_exports())
    finally:
        if added:
            sys.path.remove(root)
        reset_runtime()
        _cancel_pending(loop)
        loop.close()
        asyncio.set_event_loop(None)
    return ProgramRun(monitor.registrations, exports)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """A failed program leaves Outputs waiting on resources that never came;
    cancel them, as the language host's exit would, instead of leaving them
    to be reported as destroyed while pending."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


async def _resolve_exports() -> dict[str, tuple[Any, bool]]:
    exports: dict[str, tuple[Any, bool]] = {}
    root = pulumi_settings.get_root_resource()
    if root is None:
        return exports
    for key, value in root.outputs.items():  # type: ignore[attr-defined]
        output = pulumi.Output.from_input(value)
        known = await output.is_known()
        resolved = await output.future() if known else None
        exports[key] = (resolved, await output.is_secret())
    return exports
