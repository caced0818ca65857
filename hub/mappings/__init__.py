"""Mapping files in mappings/: the generic YAML loader and the code catalogue."""

from hub.mappings.catalogue import (
    Catalogue,
    Category,
    Division,
    RequestTypeEntry,
    Unit,
    UnknownCode,
    load_catalogue,
)
from hub.mappings.loader import LoadedMapping, MappingError, MappingErrors, load_yaml_mapping, load_yaml_model

__all__ = [
    "Catalogue",
    "Category",
    "Division",
    "LoadedMapping",
    "MappingError",
    "MappingErrors",
    "RequestTypeEntry",
    "Unit",
    "UnknownCode",
    "load_catalogue",
    "load_yaml_mapping",
    "load_yaml_model",
]
