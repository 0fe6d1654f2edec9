"""Project configuration (`onefold.yml`) and source mappings (`sources/*.yml`)."""

from onefold.config.mappings import FieldSpec, SourceMapping, load_mapping, load_mappings
from onefold.config.settings import IdentitySettings, ProjectConfig, load_project

__all__ = [
    "FieldSpec",
    "IdentitySettings",
    "ProjectConfig",
    "SourceMapping",
    "load_mapping",
    "load_mappings",
    "load_project",
]
