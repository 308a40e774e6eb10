"""The data source component: a model store or another data source, created
in the project or looked up there."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi

from ._resources import RunaiDataSource, RunaiLookup
from .project import Project, marked

__all__ = ["DataSource", "DataSourceArgs"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSourceArgs:
    """A new PVC of `size` mounted at `mount_path`, or an existing claim; or,
    with `kind` nfs, host-path, config-map, secret or git, that kind's API `spec`."""

    project: Project
    mount_path: str = "/models"
    size: str | None = "50Gi"
    storage_class: str | None = None
    claim_name: str | None = None
    existing_pvc: bool = False
    pinned_name: str | None = None
    kind: str = "pvc"
    spec: dict[str, Any] | None = None
    existing: bool = False
    """Look the data source up by `pinned_name` (in `scope`, else nearest to the
    project) instead of creating it; it is only read, never changed or deleted."""
    scope: str | None = None
    retain_on_destroy: bool = False
    """Model stores only: leave the Run:ai object in place on delete (Pulumi's
    `retain_on_delete`), so the weights survive a destroy."""


class DataSource(pulumi.ComponentResource):
    """A Run:ai PVC data source; inferences mount it by claim name."""

    asset_id: pulumi.Output[str]
    claim_name: pulumi.Output[str]
    mount_path: str
    data_source_name: str
    lookup: RunaiLookup | None = None
    """Set when the data source exists and was only looked up."""

    def __init__(
        self,
        name: str,
        args: DataSourceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-hf:index:DataSource", name, None, opts)

        self.mount_path = args.mount_path
        self.data_source_name = name
        if args.existing:
            self._look_up(name, args)
            return
        props: dict[str, object] = {
            "logicalName": name,
            "name": args.pinned_name,
            "projectId": args.project.project_id,
            "project": args.project.project_name,
            "clusterId": args.project.cluster_id,
            "kind": args.kind,
        }
        if args.kind != "pvc":
            props.update(spec=args.spec or {}, description=marked(None))
        else:
            props.update(self._pvc(args))
        # Retention is a resource option, not an input: the engine then drops
        # the object from state without calling the provider's delete.
        retain = args.retain_on_destroy and args.kind == "pvc"
        resource = RunaiDataSource(
            name,
            props,
            pulumi.ResourceOptions(parent=self, retain_on_delete=retain),
        )

        self.asset_id = resource.assetId
        self.claim_name = resource.claimName
        self.register_outputs({"assetId": self.asset_id, "claimName": self.claim_name})

    def _look_up(self, name: str, args: DataSourceArgs) -> None:
        props: dict[str, object] = {
            "existing": True,
            "kind": args.kind,
            "name": args.pinned_name or name,
            "projectId": args.project.project_id,
            "project": args.project.project_name,
        }
        if args.scope:
            props["scope"] = args.scope
        lookup = RunaiLookup(name, props, pulumi.ResourceOptions(parent=self))
        self.lookup = lookup
        self.asset_id = lookup.assetId
        self.claim_name = pulumi.Output.all(lookup.clusterName, lookup.spec).apply(
            lambda found: str(found[0] or (found[1] or {}).get("claimName") or "")
        )
        self.register_outputs({"assetId": self.asset_id})

    @staticmethod
    def _pvc(args: DataSourceArgs) -> dict[str, object]:
        props: dict[str, object] = {
            "path": args.mount_path,
            "existingPvc": args.existing_pvc,
            "readOnly": False,
            "description": marked(None),
        }
        optional = {
            "size": None if args.existing_pvc else args.size,
            "storageClass": args.storage_class,
            "claimName": args.claim_name,
        }
        props.update({key: value for key, value in optional.items() if value})
        return props
