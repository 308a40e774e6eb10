"""The Run:ai project component: a project with GPU quotas per node pool."""

from __future__ import annotations

import dataclasses

import pulumi

from ._resources import RunaiProject
from .config import NodePoolQuota

__all__ = ["Project", "ProjectArgs"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProjectArgs:
    """What a project needs: its cluster and a quota for each node pool."""

    cluster_id: str
    quotas: list[NodePoolQuota]
    description: str | None = None
    requested_namespace: str | None = None


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

        props = {
            "name": name,
            "clusterId": args.cluster_id,
            "quotas": [
                quota.model_dump(by_alias=True, exclude_none=True)
                for quota in args.quotas
            ],
        }
        if args.description:
            props["description"] = args.description
        if args.requested_namespace:
            props["requestedNamespace"] = args.requested_namespace
        resource = RunaiProject(name, props, pulumi.ResourceOptions(parent=self))

        self.project_name = name
        self.cluster_id = args.cluster_id
        self.project_id = resource.projectId
        self.namespace = resource.namespace
        self.register_outputs(
            {"projectId": self.project_id, "namespace": self.namespace}
        )
