"""Dynamic providers: one per Run:ai object, each with its own type token.

The classes live in importable modules so the engine pickles them by
reference (a few hundred bytes, stable across runs). This package keeps
re-exporting them under `components._providers` so providers pickled into
older state still load.
"""

from .credential import CredentialProvider
from .data_source import DataSourceProvider
from .inference import INFERENCE_UPDATABLE_SPEC_FIELDS, InferenceProvider, merge_patch
from .lookup import LookupProvider
from .project import ProjectProvider

__all__ = [
    "INFERENCE_UPDATABLE_SPEC_FIELDS",
    "CredentialProvider",
    "DataSourceProvider",
    "InferenceProvider",
    "LookupProvider",
    "ProjectProvider",
    "merge_patch",
]
