"""`/api/v1/org-unit/projects`: a project and its quotas per node pool."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from .._client import RunaiClient
from .._quantity import cpu_cores, quantity_value
from .._values import normalize
from ..errors import NotFoundError, RunaiHFError
from ._base import RunaiProvider, changed, diff_result, dns_failure, required

__all__ = ["ProjectProvider"]

logger = logging.getLogger("runai_hf")

_PATH = "/api/v1/org-unit/projects"
_MARK = re.compile(r"managed by Pulumi stack [^\s)]+")

PROJECT_API_FIELDS = {
    "name": "name",
    "clusterId": "clusterId",
    "requestedNamespace": "requestedNamespace",
    "department": "parentId",
    "description": "description",
    "quotas": "resources",
    "defaultNodePools": "defaultNodePools",
}
"""Input -> the API field it becomes."""

_PUT_FIELDS = frozenset({"description", "resources", "defaultNodePools"})
"""The `ProjectUpdateRequest` fields the provider sends (a test holds this
to the API document); every other input is creation-only and replaces."""


class ProjectProvider(RunaiProvider):
    """A project with GPU, CPU and memory quotas, or an existing one, read only.

    CPU quotas go to the API in millicores and memory in MB: the request
    model does not name its units, and these are the ones the UI shows.
    """

    _replace_keys: ClassVar[list[str]] = [
        key for key, field in PROJECT_API_FIELDS.items() if field not in _PUT_FIELDS
    ] + ["existing"]
    _update_keys: ClassVar[list[str]] = [
        key for key, field in PROJECT_API_FIELDS.items() if field in _PUT_FIELDS
    ]

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = normalize(news)
        if props.get("declared"):
            failures = required(props, "name", "requestedNamespace", "quotas")
            return CheckResult(props, failures + dns_failure(props, "name"))
        failures = required(props, "name", "clusterId")
        failures += dns_failure(props, "name")
        if not props.get("existing") and not props.get("quotas"):
            failures.append(CheckFailure("quotas", "a new project needs quotas"))
        for index, quota in enumerate(props.get("quotas") or []):
            failures += _quota_failures(index, quota)
        return CheckResult(props, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        if props.get("declared"):
            # Nothing to call: the stack only records the project so policies
            # and Knative objects can use its namespace and quotas.
            outputs = {**props, "namespace": props["requestedNamespace"]}
            outputs.update(projectId="", phase="Declared")
            return CreateResult(f"declared:{props['name']}", outputs)
        with self.client() as client:
            if props.get("existing"):
                project = self._find(client, props)
                logger.info("project %s: using the existing project", props["name"])
                return CreateResult(str(project["id"]), self._outputs(props, project))
            kept = self._kept_by_this_stack(client, props)
            if kept is not None:
                return self._adopt(client, props, kept)
            project = client.post(_PATH, self._body(client, props))
            project_id = str(project["id"])
            project = self._wait_ready(client, project_id) or project
        logger.debug("project %s: created as %s", props["name"], project_id)
        return CreateResult(project_id, self._outputs(props, project))

    def read_planned(self, props: Mapping[str, Any]) -> tuple[str, Any] | None:
        """For an online preflight, reads only: the project this stack would
        create, if this stack made it already (its id and outputs), else None.

        Raises what `pulumi up` would run into: a department that does not
        exist, a project of that name that is someone else's.
        """
        with self.client() as client:
            if props.get("department"):
                self._department_id(client, str(props["department"]))
            filters = [f"name=={props['name']}", f"clusterId=={props['clusterId']}"]
            found = client.get(_PATH, filterBy=filters)["projects"]
            if not found:
                return None
            ours = self._kept_by_this_stack(client, props)
        if ours is None:
            raise RunaiHFError(
                f"project {props['name']}: Run:ai has a project of that name that "
                "this stack did not make, so creating it would fail; reference it "
                "with existing: true, or give the stack's project another name"
            )
        return str(ours["id"]), self._outputs(props, ours)

    def _kept_by_this_stack(
        self, client: RunaiClient, props: Mapping[str, Any]
    ) -> Any | None:
        """A project of this name that this same stack kept on an earlier destroy.

        Only a project carrying the stack's own mark is taken back; any other
        of that name makes the POST fail with Run:ai's conflict, as before.
        """
        mark = _MARK.search(str(props.get("description") or ""))
        if mark is None:
            return None
        filters = [f"name=={props['name']}", f"clusterId=={props['clusterId']}"]
        for project in client.get(_PATH, filterBy=filters)["projects"]:
            if mark.group(0) in str(project.get("description") or ""):
                return project
        return None

    def _adopt(
        self, client: RunaiClient, props: Mapping[str, Any], project: Any
    ) -> CreateResult:
        project_id = str(project["id"])
        wanted = props.get("requestedNamespace")
        if wanted and project.get("requestedNamespace") not in (None, wanted):
            raise RunaiHFError(
                f"project {props['name']}: the project this stack kept has namespace "
                f"{project.get('requestedNamespace')!r}, not {wanted!r}; put "
                "requestedNamespace back, or delete the kept project in Run:ai"
            )
        department = props.get("department")
        if department and str(project.get("parentId")) != self._department_id(
            client, str(department)
        ):
            raise RunaiHFError(
                f"project {props['name']}: the project this stack kept is not in "
                f"department {department!r}; put department back, or delete the "
                "kept project in Run:ai"
            )
        logger.info(
            "project %s: adopted the project this stack kept (id %s)",
            props["name"],
            project_id,
        )
        return CreateResult(project_id, self.update(project_id, {}, dict(props)).outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if props.get("declared"):
            return ReadResult(id_, props)
        with self.client() as client:
            try:
                project = client.get(f"{_PATH}/{id_}")
            except NotFoundError:
                return ReadResult(None, {})
        inputs = {
            **props,
            "name": project["name"],
            "clusterId": project["clusterId"],
            "quotas": _quotas_from(project, props.get("quotas")),
        }
        for key in ("description", "requestedNamespace", "defaultNodePools"):
            if props.get(key) is not None:
                inputs[key] = project.get(key) or None
        inputs = {k: v for k, v in inputs.items() if k not in _OUTPUT_ONLY}
        return ReadResult(id_, self._outputs(inputs, project), inputs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if olds.get("declared") or news.get("declared"):
            # A declared project is a record in the stack only: any change is
            # an update of that record, and switching to or from a declared
            # project touches nothing in Run:ai (both are existing projects).
            if bool(olds.get("declared")) != bool(news.get("declared")):
                return diff_result(["declared"], ["declared"])
            keys = self._update_keys + ["requestedNamespace", "clusterId"]
            return diff_result(changed(olds, news, keys), [])
        replaces = changed(olds, news, self._replace_keys)
        if replaces:
            # Deleting a Run:ai project deletes every workload and asset in
            # it, so the provider never does that as a side effect of a diff.
            raise RunaiHFError(
                f"project {news.get('name')}: {', '.join(replaces)} cannot change on "
                "a project the stack manages: Run:ai would need a new project, and "
                "deleting the old one deletes every inference, credential and model "
                "store in it. Revert the change, or declare a project under a new "
                "name and move the inferences to it"
            )
        updates = [] if news.get("existing") else changed(olds, news, self._update_keys)
        return diff_result(updates, [])

    def update(
        self, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> UpdateResult:
        if news.get("declared"):
            return UpdateResult({**olds, **news})
        with self.client() as client:
            if news.get("existing"):
                project = client.get(f"{_PATH}/{id_}")
                return UpdateResult(self._outputs(news, project))
            body: dict[str, Any] = {"resources": self._resources(client, news)}
            for key in ("description", "defaultNodePools"):
                if news.get(key):
                    body[key] = news[key]
            project = client.put(f"{_PATH}/{id_}", body)
        logger.debug("project %s: updated", news["name"])
        return UpdateResult(self._outputs(news, project))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("declared"):
            return
        if props.get("existing"):
            logger.info("project %s: existing project left in place", props["name"])
            return
        with self.client() as client:
            others = _contents(client, id_)
        if others:
            # Run:ai would delete them with the project: another stack's or
            # another team's work. The stack's own are gone by now (the
            # engine deletes dependants first), so these are not ours.
            shown = ", ".join(others[:5]) + (" and more" if len(others) > 5 else "")
            logger.warning(
                "project %s: left in place, because it still holds what this "
                "stack did not delete (%s), which Run:ai would delete with it; "
                "delete the project in Run:ai once they are gone",
                props["name"],
                shown,
            )
            return
        self.delete_path(f"{_PATH}/{id_}")

    def _body(self, client: RunaiClient, props: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": props["name"],
            "clusterId": props["clusterId"],
            "resources": self._resources(client, props),
        }
        for key in ("description", "requestedNamespace", "defaultNodePools"):
            if props.get(key):
                body[key] = props[key]
        if props.get("department"):
            body["parentId"] = self._department_id(client, str(props["department"]))
        return body

    def _find(self, client: RunaiClient, props: Mapping[str, Any]) -> Any:
        filters = [f"name=={props['name']}", f"clusterId=={props['clusterId']}"]
        found = client.get(_PATH, filterBy=filters)["projects"]
        if not found:
            raise RunaiHFError(
                f"project {props['name']}: no such project in cluster "
                f"{props['clusterId']}; create it, or drop existing: true so the "
                "stack creates it"
            )
        return found[0]

    @staticmethod
    def _department_id(client: RunaiClient, name: str) -> str:
        departments = client.get("/api/v1/org-unit/departments")["departments"]
        for department in departments:
            if department.get("name") == name:
                return str(department["id"])
        known = ", ".join(sorted(str(d.get("name")) for d in departments)) or "none"
        raise RunaiHFError(
            f"department {name!r} does not exist; known departments: {known}"
        )

    @staticmethod
    def _resources(client: RunaiClient, props: Mapping[str, Any]) -> list[Any]:
        pools = client.get(
            "/api/v1/node-pools", filterBy=f"clusterId=={props['clusterId']}"
        )["nodepools"]
        ids = {pool["name"]: pool["id"] for pool in pools}
        resources = []
        for quota in props.get("quotas") or []:
            pool = quota.get("nodePool") or "default"
            if pool not in ids:
                known = ", ".join(sorted(ids)) or "none"
                raise RunaiHFError(
                    f"project {props['name']}: node pool {pool!r} does not exist in "
                    f"cluster {props['clusterId']}; known node pools: {known}"
                )
            resources.append(
                {"nodePool": {"id": ids[pool], "name": pool}, **_quota_body(quota)}
            )
        return resources

    def _wait_ready(self, client: RunaiClient, project_id: str) -> Any:
        def ready() -> Any:
            project = client.get(f"{_PATH}/{project_id}")
            phase = (project.get("status") or {}).get("phase")
            return project if phase in (None, "Ready") else None

        return self.wait(ready, timeout=120.0)

    @staticmethod
    def _outputs(
        props: Mapping[str, Any], project: Mapping[str, Any]
    ) -> dict[str, Any]:
        status = project.get("status") or {}
        namespace = status.get("namespace") or props.get("requestedNamespace")
        outputs = {
            **props,
            "projectId": str(project["id"]),
            "namespace": namespace or f"runai-{props['name']}",
            "phase": status.get("phase") or "Ready",
        }
        if props.get("existing"):
            # Policies weigh inferences against these numbers.
            outputs["quotas"] = _quotas_from(project)
        return outputs


_OUTPUT_ONLY = frozenset({"projectId", "namespace", "phase", "__provider"})


def _quota_failures(index: int, quota: Mapping[str, Any]) -> list[CheckFailure]:
    gpu, limit = quota.get("gpu"), quota.get("gpuLimit")
    if not isinstance(gpu, int | float) or gpu < 0:
        return [
            CheckFailure(f"quotas[{index}].gpu", f"{gpu!r} is not a GPU count >= 0")
        ]
    if limit is not None and limit < gpu:
        return [
            CheckFailure(
                f"quotas[{index}].gpuLimit",
                f"limit {limit} is below the deserved {gpu}",
            )
        ]
    return []


def _quota_body(quota: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "gpu": {"deserved": quota["gpu"], "limit": quota.get("gpuLimit")}
    }
    if quota.get("cpu") is not None or quota.get("cpuLimit") is not None:
        body["cpu"] = {
            "deserved": _millicores(quota.get("cpu")),
            "limit": _millicores(quota.get("cpuLimit")),
        }
    if quota.get("memory") is not None or quota.get("memoryLimit") is not None:
        body["memory"] = {
            "deserved": _megabytes(quota.get("memory")),
            "limit": _megabytes(quota.get("memoryLimit")),
            "units": "MB",
        }
    return body


def _millicores(value: Any) -> float | None:
    return None if value is None else round(cpu_cores(value) * 1000)


def _megabytes(value: Any) -> float | None:
    return None if value is None else round(quantity_value(str(value)) / 1e6)


def _quotas_from(
    project: Mapping[str, Any], declared: list[Any] | None = None
) -> list[dict[str, Any]]:
    """The quotas as inputs, so a refresh shows real drift and nothing else.

    CPU and memory come back in millicores and MB; where they still equal
    what the stack wrote ("2", "8GB"), the stack's spelling is kept.
    """
    written = {q.get("nodePool") or "default": q for q in declared or []}
    quotas = []
    for resource in project.get("resources") or []:
        gpu = resource.get("gpu") or {}
        pool = (resource.get("nodePool") or {}).get("name")
        quota: dict[str, Any] = {
            "nodePool": pool,
            "gpu": gpu.get("deserved", 0),
            "gpuLimit": gpu.get("limit"),
        }
        quota.update(_cpu_memory(resource, written.get(pool) or {}))
        # The stack leaves unset fields out; so does the read.
        quotas.append(normalize({k: v for k, v in quota.items() if v is not None}))
    return quotas


def _cpu_memory(
    resource: Mapping[str, Any], written: Mapping[str, Any]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pairs = (
        ("cpu", "deserved", "cpu", _millicores, "m"),
        ("cpu", "limit", "cpuLimit", _millicores, "m"),
        ("memory", "deserved", "memory", _megabytes, "MB"),
        ("memory", "limit", "memoryLimit", _megabytes, "MB"),
    )
    for section, field, key, convert, unit in pairs:
        served = (resource.get(section) or {}).get(field)
        if served is None:
            continue
        mine = written.get(key)
        same = mine is not None and convert(mine) == round(float(served))
        found[key] = mine if same else f"{round(float(served))}{unit}"
    return found


_ASSET_COLLECTIONS = {
    "credential": (
        "/api/v1/asset/credentials/generic-secret",
        "/api/v1/asset/credentials/docker-registry",
        "/api/v1/asset/credentials/password",
    ),
    "data source": tuple(
        f"/api/v1/asset/datasource/{kind}"
        for kind in ("pvc", "nfs", "host-path", "git", "config-map", "secrets")
    ),
    "environment": ("/api/v1/asset/environment",),
    "compute resource": ("/api/v1/asset/compute",),
    "workload template": ("/api/v1/asset/workload-template",),
}


def _contents(client: RunaiClient, project_id: str) -> list[str]:
    """What lives in the project in Run:ai: its workloads and its own assets."""
    found = [
        f"workload {workload.get('name')}"
        for workload in client.get(
            "/api/v1/workloads", filterBy=f"projectId=={project_id}"
        ).get("workloads")
        or []
    ]
    for what, paths in _ASSET_COLLECTIONS.items():
        for path in paths:
            entries = client.get(path, scope="project", projectId=project_id)
            found += [
                f"{what} {(entry.get('meta') or {}).get('name')}"
                for entry in entries.get("entries") or []
            ]
    return found
