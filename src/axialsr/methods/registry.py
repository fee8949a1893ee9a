"""The method registry: `MethodSpec`, what a method's `run` receives and returns, the settings sections
the methods own (`SettingsSection`: a config dataclass, the title and option prefix front ends show it
under), and the functions that register and look up both (see `axialsr.methods` for the built-in ones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.learning.priors import DiffusionPrior, LateralRegressor, Prior, as_prior_list
from axialsr.operators.acquisition import Acquisition
from axialsr.settings import RestoreConfig, Runtime

ENTRY_POINT_GROUP = "axialsr.methods"


@dataclass
class MethodInputs:
    """What a method's `run` receives: the measured stack (Z_lr, Y, X) in normalised units, how z was
    measured, the priors matched to its needs (`prior(type)`), the settings, the runtime, and the
    checkpoint folder of an iterative method (None: no checkpoints) with whether to resume from it."""

    measured: np.ndarray
    acquisition: Acquisition
    priors: dict[type[Prior], Prior]
    config: RestoreConfig
    runtime: Runtime
    checkpoint_dir: str | None = None
    resume: bool = False

    def prior(self, kind: type[Prior]) -> Any:
        """The given prior of type `kind` (None when an optional one was not given)."""
        return self.priors.get(kind)

    def settings(self, key: str) -> Any:
        """The settings section `key` (a method's name for a method with a config of its own): the config
        in `config.methods`, else the section's defaults."""
        return self.config.settings(key, settings_sections()[key].cls)


@dataclass
class MethodOutput:
    """A method's result in normalised units: the volume (round(Z_lr s), Y, X), the loss history of an
    iterative method, and the per-voxel spread of its views (uncertainty methods, when asked)."""

    volume: np.ndarray
    history: list[dict] = field(default_factory=list)
    spread: np.ndarray | None = None


@dataclass(frozen=True)
class MethodSpec:
    """A restoration method.

    Attributes
    ----------
    name, summary : str
        How users call it, and what it does in one line.
    run : callable
        `run(MethodInputs) -> MethodOutput`.
    settings : tuple of str
        The settings sections it reads (`register_settings`: 'recon', 'slicewise', 'lateral', 'refine'):
        front ends show their options, `MethodInputs.settings(key)` hands them over.
    config : type, optional
        A config dataclass of its own: registering the method registers it as the section named after the
        method (options `--NAME-FIELD` under the heading 'NAME method'; the value lives in
        `RestoreConfig.methods[name]`).
    needs, optional : tuple of Prior types
        The prior types it must be given, and those it uses when given.
    iterative : bool
        It optimises (checkpointable, resumable).
    consistent : bool
        It ends with the projection onto the measurements unless told otherwise.
    uncertainty : bool
        It can estimate a per-voxel uncertainty (the spread of its views).
    z_support : int, optional
        Measured slices on each side beyond which its output no longer depends on the input (to 1e-3 of
        the range; None: not local, e.g. an INR fitted per block); blockwise runs widen their overlap by it.
    """

    name: str
    summary: str
    run: Callable[[MethodInputs], MethodOutput]
    settings: tuple[str, ...] = ()
    config: type | None = None
    needs: tuple[type[Prior], ...] = ()
    optional: tuple[type[Prior], ...] = ()
    iterative: bool = False
    consistent: bool = False
    uncertainty: bool = False
    z_support: int | None = None

    def assign(self, priors: Prior | list[Prior] | tuple[Prior, ...] | None) -> dict[type[Prior], Prior]:
        """Match the given priors to the types this method needs or takes (unused ones are ignored);
        AxialSRError when one it needs is missing or a type is given twice."""
        by_type: dict[type[Prior], Prior] = {}
        for prior in as_prior_list(priors):
            kind = next((t for t in (*self.needs, *self.optional) if isinstance(prior, t)), None)
            if kind is None:
                continue
            if kind in by_type:
                raise AxialSRError(f"two {describe(kind)} priors were given; pass one of each type")
            by_type[kind] = prior
        missing = [t for t in self.needs if t not in by_type]
        if missing:
            raise AxialSRError(f"method {self.name} needs a {describe(missing[0])} prior ({TRAIN_HINT[missing[0]]})")
        return by_type

    def unused(self, priors: Prior | list[Prior] | tuple[Prior, ...] | None) -> list[str]:
        """Users' words for the optional prior types not among `priors` (e.g. inr-lateral without SDS)."""
        given = as_prior_list(priors)
        return [describe(t) for t in self.optional if not any(isinstance(p, t) for p in given)]


PRIOR_WORDS = {DiffusionPrior: "diffusion or conditional", LateralRegressor: "lateral"}
TRAIN_HINT = {
    DiffusionPrior: "train one of kind 'conditional' or 'diffusion'",
    LateralRegressor: "train one of kind 'lateral'",
}


def describe(kind: type[Prior]) -> str:
    """Users' word for a prior type: 'lateral', 'diffusion or conditional'."""
    return PRIOR_WORDS.get(kind, kind.__name__)


@dataclass(frozen=True)
class SettingsSection:
    """A config dataclass that methods read, stored in `RestoreConfig.methods[key]`: front ends show its
    fields as options `--PREFIXFIELD` under the heading `title` (the CLI) or as fields (napari)."""

    key: str
    cls: type
    title: str
    prefix: str = ""


_REGISTRY: dict[str, MethodSpec] = {}
_SECTIONS: dict[str, SettingsSection] = {}
_plugins_loaded = False


def register_settings(key: str, cls: type, *, title: str, prefix: str | None = None) -> SettingsSection:
    """Register the settings section `key` (its config dataclass `cls`, shown under `title` with options
    prefixed `prefix`, default 'KEY-'); returns it. The module that defines a method registers the
    sections it owns.

    Examples
    --------
    >>> settings_sections()["lateral"].prefix
    'lateral-'
    """
    section = SettingsSection(key, cls, title, f"{key}-" if prefix is None else prefix)
    _SECTIONS[key] = section
    return section


def settings_sections() -> dict[str, SettingsSection]:
    """Every registered settings section by key, in the order registered (a copy)."""
    _load_plugins()
    return dict(_SECTIONS)


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method to the registry (replacing one of the same name); a method with a `config` of its own
    also registers it as the settings section named after it. Returns the registered spec."""
    if spec.config is not None:
        register_settings(spec.name, spec.config, title=f"{spec.name} method")
        if spec.name not in spec.settings:
            spec = replace(spec, settings=(*spec.settings, spec.name))
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a method and the settings section of its own config (for tests that register a toy one)."""
    spec = _REGISTRY.pop(name, None)
    if spec is not None and spec.config is not None:
        _SECTIONS.pop(name, None)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        register(spec() if callable(spec) and not isinstance(spec, MethodSpec) else spec)


def methods() -> dict[str, MethodSpec]:
    """Every registered method by name, built-in ones first (a copy)."""
    _load_plugins()
    return dict(_REGISTRY)


def method_names() -> tuple[str, ...]:
    """Every method's name, in the registry's order."""
    return tuple(methods())


def get_method(name: str) -> MethodSpec:
    """The registered method called `name` (AxialSRError naming the choices otherwise)."""
    registry = methods()
    if name not in registry:
        raise AxialSRError(f"unknown method '{name}'; choose one of {', '.join(registry)}")
    return registry[name]


def methods_for(priors: Prior | list[Prior] | tuple[Prior, ...] | None) -> tuple[str, ...]:
    """The methods whose needed priors are all among `priors`."""
    given = as_prior_list(priors)
    return tuple(
        name for name, spec in methods().items() if all(any(isinstance(p, t) for p in given) for t in spec.needs)
    )


DEFAULT_METHOD = "lateral"


def method_for_priors(priors: Prior | list[Prior] | tuple[Prior, ...] | None) -> str:
    """The method that the given priors serve: a lateral regressor `lateral`, a diffusion prior `inr-sds`,
    both `inr-lateral`; none, `DEFAULT_METHOD`.

    Examples
    --------
    >>> method_for_priors(None)
    'lateral'
    """
    given = as_prior_list(priors)
    lateral = any(isinstance(p, LateralRegressor) for p in given)
    diffusion = any(isinstance(p, DiffusionPrior) for p in given)
    if lateral and diffusion:
        return "inr-lateral"
    return "inr-sds" if diffusion else DEFAULT_METHOD
