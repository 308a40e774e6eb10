"""The Run:ai project component: quotas per node pool, or an existing project."""

from __future__ import annotations

import dataclasses

import pulumi

from ._resources import RunaiProject
from .config import NodePoolQuota

__all__ = ["Project", "ProjectArgs"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProjectArgs:
    """A project's cluster, quotas and place in the organisation.

    With `existing=True` the project is looked up by name and only read: the
    stack never changes or deletes it, and `quotas` may stay empty.
    """

    cluster_id: str
    quotas: list[NodePoolQuota] = dataclasses.field(default_factory=list)
    description: str | None = None
    department: str | None = None
    existing: bool = False
    requested_namespace: str | None = None
    default_node_pools: list[str] | None = None
    declared: bool = False
    """Record the project without calling Run:ai (a Knative-only stack with no
    connection): its namespace and quotas come from the stack file."""
    retain_on_destroy: bool = False
    """Leave the project in Run:ai on destroy (Pulumi's `retain_on_delete`):
    set while it holds a retained model store, which Run:ai would otherwise
    delete with it. A later `up` adopts the project again."""


def stack_mark() -> str:
    """Who owns an object: `<pulumi project>/<stack>`, written where the API allows."""
    return f"{pulumi.get_project()}/{pulumi.get_stack()}"


def marked(description: str | None) -> str:
    mark = f"managed by Pulumi stack {stack_mark()}"
    return f"{description} ({mark})" if description else mark


class Project(pulumi.ComponentResource):
    """A Run:ai project; it keeps its declared name, since its namespace follows it."""

    project_id: pulumi.Output[str]
    namespace: pulumi.Output[str]
    project_name: str
    cluster_id: str

    def __init__(
        self,
        name: str,
        args: ProjectArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-hf:index:Project", name, None, opts)

        props: dict[str, object] = {
            "name": name,
            "clusterId": args.cluster_id,
            "existing": args.existing,
            "declared": args.declared,
            "quotas": [
                quota.model_dump(by_alias=True, exclude_none=True)
                for quota in args.quotas
            ],
        }
        optional = {
            "description": None if args.existing else marked(args.description),
            "department": args.department,
            "requestedNamespace": args.requested_namespace,
            "defaultNodePools": args.default_node_pools,
        }
        props.update({key: value for key, value in optional.items() if value})
        retain = args.retain_on_destroy and not (args.existing or args.declared)
        resource = RunaiProject(
            name, props, pulumi.ResourceOptions(parent=self, retain_on_delete=retain)
        )

        self.project_name = name
        self.cluster_id = args.cluster_id
        self.project_id = resource.projectId
        self.namespace = resource.namespace
        self.register_outputs(
            {"projectId": self.project_id, "namespace": self.namespace}
        )
