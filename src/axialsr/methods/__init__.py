"""The restoration methods, one module each, and their registry.

A method is a `MethodSpec`: its name, a one-line summary, the settings sections it reads (config
dataclasses that method modules own and register with `register_settings`, such as `lateral`, or a
dataclass of its own, `config`), the prior types it needs
or takes, its capabilities (iterative and checkpointable, ends with the projection onto the
measurements, per-voxel uncertainty, z support for blockwise runs) and a typed `run`. Front ends (CLI,
napari), `validate`, `blocks`, `api` and the benchmarks loop over the registry, so a new method is one
module that calls `register` (and its test): built-in ones are imported below; others register when
imported, or through the `axialsr.methods` entry point group of an installed package.

`run(inputs)` receives a `MethodInputs` (the measured stack in normalised units, the acquisition, the
priors by type, the `RestoreConfig`, the `Runtime`, the checkpoint folder and whether to resume) and
returns a `MethodOutput` (the volume on the output grid in normalised units, the loss history of an
iterative method, the spread of its views for methods that estimate an uncertainty).
"""

from importlib import import_module

from axialsr.methods.registry import (
    DEFAULT_METHOD,
    ENTRY_POINT_GROUP,
    MethodInputs,
    MethodOutput,
    MethodSpec,
    SettingsSection,
    describe,
    get_method,
    method_for_priors,
    method_names,
    methods,
    methods_for,
    register,
    register_settings,
    settings_sections,
    unregister,
)

# in the order users see them
BUILTIN = ("interpolation", "inr", "inr_sds", "slicewise", "lateral", "inr_lateral", "lateral_diffusion")
for _module in BUILTIN:
    import_module(f"axialsr.methods.{_module}")

__all__ = [
    "DEFAULT_METHOD",
    "ENTRY_POINT_GROUP",
    "MethodInputs",
    "MethodOutput",
    "MethodSpec",
    "SettingsSection",
    "describe",
    "get_method",
    "method_for_priors",
    "method_names",
    "methods",
    "methods_for",
    "register",
    "register_settings",
    "settings_sections",
    "unregister",
]
