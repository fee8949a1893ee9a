"""The restoration layer: every method axialsr knows, by name, and one function that runs any of them.

`restore` takes a measured stack in its own units, an `Acquisition`, the trained priors a method needs
and a `RestoreConfig`; it normalises the intensities (one rule, `normalization_for`), runs the method
on the output grid, optionally projects the result onto the measurements (`axialsr.consistency`) and
maps it back to the input's units. Whole volumes (`api`), blocks of larger ones (`blocks`) and the
degraded copies of `validate` all go through it, so every caller runs the same method the same way.

Methods (`METHODS`):

==============  ====================================================================  ================
name            what it does                                                          needs
==============  ====================================================================  ================
nearest         nearest-slab interpolation along z                                    -
linear          linear interpolation along z                                          -
cubic           natural cubic spline along z                                          -
inr             INR fitted to the measurements (fidelity only)                        -
inr-sds         INR with fidelity and SDS under a diffusion prior                     diffusion prior
slicewise       each XZ (or YZ) slice restored by a diffusion prior with projection   diffusion prior
lateral         lateral regressor on every XZ and YZ plane, views averaged            lateral prior
inr-lateral     INR over the lateral restoration: fidelity, 3D coherence, and SDS     lateral prior
                when a diffusion prior is also given                                  (+ diffusion)
==============  ====================================================================  ================

"diffusion prior" means a prior of kind `diffusion` or `conditional` (see `axialsr.prior`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from axialsr.acquisition import Acquisition
from axialsr.baselines import INTERPOLATION_METHODS, interpolate_z
from axialsr.consistency import (
    measurement_residual,
    project_onto_measurements,
    projection_z_support,
)
from axialsr.errors import AxialSRError
from axialsr.intensity import Normalization
from axialsr.lateral import restore_planes
from axialsr.prior import Prior
from axialsr.reconstruct import reconstruct
from axialsr.settings import LateralConfig, RestoreConfig
from axialsr.slicewise import slicewise_diffusion


@dataclass
class Restoration:
    """A restored volume (float32, input units, (round(Z_lr s), Y, X)), the method, wall time (s), the
    INR's loss history (empty for the others), the normalisation used, and the rms difference between
    the restoration seen through the acquisition model and the measurements (input units); with
    `RestoreConfig.uncertainty`, a per-voxel uncertainty (one standard deviation, input units)."""

    volume: np.ndarray
    method: str
    seconds: float
    history: list[dict]
    normalization: Normalization
    measurement_rms: float
    uncertainty: np.ndarray | None = None


@dataclass(frozen=True)
class Method:
    """A restoration method: its name, a one-line summary, the prior roles it needs ('lateral',
    'diffusion'; `optional` ones are used when given), whether it optimises an INR (checkpointable),
    whether it ends with the projection onto the measurements by default, whether it can estimate a
    per-voxel uncertainty, and `z_support`: the measured slices on each side beyond which its output no
    longer depends on the input (to 1e-3 of the range; None: not local, e.g. an INR fitted per block), which
    blockwise runs add to their z overlap. `run` returns (volume, loss history, spread or None), in
    normalised units."""

    name: str
    summary: str
    run: Callable[..., tuple[np.ndarray, list[dict], np.ndarray | None]]
    needs: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    iterative: bool = False
    consistent: bool = False
    uncertainty: bool = False
    z_support: int | None = None


def _interpolate(method: str):
    def run(measured, acquisition, priors, config, **_):
        return interpolate_z(measured, acquisition.factor, method), [], None

    return run


def _inr(measured, acquisition, priors, config, checkpoint_dir=None, resume=False, progress=True):
    cfg = replace(config.recon, lambda_sds=0.0)
    result = reconstruct(measured, acquisition, None, cfg, checkpoint_dir, resume, progress=progress)
    return result.volume, result.history, None


def _inr_sds(measured, acquisition, priors, config, checkpoint_dir=None, resume=False, progress=True):
    result = reconstruct(
        measured, acquisition, priors["diffusion"], config.recon, checkpoint_dir, resume, progress=progress
    )
    return result.volume, result.history, None


def _slicewise(measured, acquisition, priors, config, progress=True, **_):
    return (
        slicewise_diffusion(
            measured, acquisition, priors["diffusion"], config.slicewise, config.projection, progress=progress
        ),
        [],
        None,
    )


def _lateral_volume(
    measured, acquisition, prior: Prior, config: LateralConfig, progress: bool, spread: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    prior.check_acquisition(acquisition)
    cubic = interpolate_z(measured, acquisition.factor, "cubic")
    out = restore_planes(
        prior.regress, cubic, config.planes, config.flips, config.batch, prior.device, progress, spread
    )
    return out if spread else (out, None)


def _lateral(measured, acquisition, priors, config, progress=True, **_):
    volume, spread = _lateral_volume(
        measured, acquisition, priors["lateral"], config.lateral, progress, config.uncertainty
    )
    return volume, [], spread


def _inr_lateral(measured, acquisition, priors, config, checkpoint_dir=None, resume=False, progress=True):
    base, spread = _lateral_volume(
        measured, acquisition, priors["lateral"], config.lateral, progress, config.uncertainty
    )
    diffusion = priors.get("diffusion")
    cfg = replace(config.recon, field=replace(config.recon.field, start_at_base=True))
    if diffusion is None:
        cfg = replace(cfg, lambda_sds=0.0)
    result = reconstruct(measured, acquisition, diffusion, cfg, checkpoint_dir, resume, progress=progress, base=base)
    return result.volume, result.history, spread


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        *(
            Method(name, f"{name} interpolation along z", _interpolate(name), z_support=support)
            for name, support in zip(INTERPOLATION_METHODS, (1, 1, 6), strict=True)
        ),
        Method("inr", "INR fitted to the measurements (fidelity only)", _inr, iterative=True, consistent=True),
        Method(
            "inr-sds",
            "INR with fidelity and SDS under a diffusion prior",
            _inr_sds,
            needs=("diffusion",),
            iterative=True,
            consistent=True,
        ),
        Method(
            "slicewise",
            "each XZ (or YZ) slice restored by a diffusion prior, projected on the measurements",
            _slicewise,
            needs=("diffusion",),
            consistent=True,
        ),
        Method(
            "lateral",
            "lateral regressor on every XZ and YZ plane (CARE-isotropic family), views averaged",
            _lateral,
            needs=("lateral",),
            consistent=True,
            uncertainty=True,
            z_support=12,
        ),
        Method(
            "inr-lateral",
            "INR over the lateral restoration: fidelity, 3D coherence (and SDS with a diffusion prior)",
            _inr_lateral,
            needs=("lateral",),
            optional=("diffusion",),
            iterative=True,
            consistent=True,
            uncertainty=True,
        ),
    )
}
DEFAULT_METHOD = "lateral"
# One standard deviation of the error per unit of spread of the lateral views (the 2 plane families x 4
# flips disagree where the restoration is uncertain), fitted on one synthetic case and tested on the others
# by benchmarks/uncertainty.py.
UNCERTAINTY_SCALE = 1.83


def calibrated_uncertainty(spread: np.ndarray, floor: float, scale: float = UNCERTAINTY_SCALE) -> np.ndarray:
    """One standard deviation of the error per voxel: sqrt((scale * spread)^2 + floor^2), where `spread` is
    the standard deviation of the lateral views and `floor` the regressor's RMS error on its training pairs
    (the error no disagreement between views shows); all in the same (normalised) units."""
    return np.sqrt((scale * np.asarray(spread, np.float64)) ** 2 + float(floor) ** 2)


def blockwise_z_support(method: Method, acquisition: Acquisition, config: RestoreConfig) -> int:
    """The measured slices on each side that a block of `method` must see for its output to match the
    whole volume's: the method's own `z_support`, plus the reach of the final projection when it ends with
    one (a smooth correction spreads each slab's residual over its neighbours)."""
    support = method.z_support or 0
    if config.consistency if config.consistency is not None else method.consistent:
        support += projection_z_support(acquisition, config.projection)
    return support


def method_names() -> tuple[str, ...]:
    """Every method's name, in the registry's order."""
    return tuple(METHODS)


def get_method(name: str) -> Method:
    """The registered method called `name` (AxialSRError naming the choices otherwise)."""
    if name not in METHODS:
        raise AxialSRError(f"unknown method '{name}'; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def role_of(prior: Prior) -> str:
    """The role a prior plays: 'lateral' for a regressor, 'diffusion' for a (conditional) diffusion prior."""
    return "lateral" if prior.kind == "lateral" else "diffusion"


def assign_priors(method: Method, priors: Prior | Sequence[Prior] | None) -> dict[str, Prior]:
    """Match the given priors to the roles `method` needs; AxialSRError when one is missing."""
    given = [] if priors is None else [priors] if isinstance(priors, Prior) else list(priors)
    roles: dict[str, Prior] = {}
    for prior in given:
        role = role_of(prior)
        if role in roles:
            raise AxialSRError(f"two {role} priors were given; pass one of each kind")
        roles[role] = prior
    missing = [role for role in method.needs if role not in roles]
    if missing:
        kinds = {"lateral": "lateral", "diffusion": "diffusion or conditional"}
        raise AxialSRError(
            f"method {method.name} needs a {kinds[missing[0]]} prior (train one with train-prior --kind "
            f"{'lateral' if missing[0] == 'lateral' else 'conditional'})"
        )
    return {role: p for role, p in roles.items() if role in method.needs + method.optional}


def normalization_for(
    source, method: Method, priors: dict[str, Prior], given: Normalization | None = None
) -> Normalization:
    """The one intensity rule: `given` if any, else the normalisation of the first prior the method uses
    (the space it was trained in), else one fitted on `source` (an array or an `io.VolumeSource`; both
    sample the same voxels, so whole-volume and blockwise runs agree)."""
    if given is not None:
        return given
    for role in (*method.needs, *method.optional):
        if role in priors:
            return priors[role].normalization
    return Normalization.fit(source)


def restore(
    measured: np.ndarray,
    method: str,
    acquisition: Acquisition,
    priors: Prior | Sequence[Prior] | None = None,
    config: RestoreConfig | None = None,
    normalization: Normalization | None = None,
    checkpoint_dir=None,
    resume: bool = False,
    progress: bool = True,
) -> Restoration:
    """Restore a measured stack (Z_lr, Y, X; any dtype, input units) onto the isotropic grid.

    Parameters
    ----------
    measured : ndarray
        The anisotropic stack, z first.
    method : str
        A name from `METHODS`.
    acquisition : Acquisition
        How z was measured (factor, model, PSF width).
    priors : Prior or sequence of Prior, optional
        The trained priors the method needs (matched by kind).
    config : RestoreConfig, optional
        Settings of the methods (defaults: `RestoreConfig()`).
    normalization : Normalization, optional
        Intensity normalisation; default: see `normalization_for`.
    checkpoint_dir, resume
        Checkpoints of the INR methods.
    progress : bool
        Show progress bars.

    Returns
    -------
    Restoration
        The volume as float32 in the input's units, with timing and diagnostics.

    Examples
    --------
    >>> import numpy as np
    >>> from axialsr.acquisition import simulate
    >>> truth = np.random.default_rng(0).random((16, 8, 8)).astype(np.float32)
    >>> acq = Acquisition(4)
    >>> out = restore(simulate(truth, acq), "linear", acq, config=RestoreConfig(consistency=True))
    >>> out.volume.shape, out.measurement_rms < 1e-5
    ((16, 8, 8), True)
    """
    spec = get_method(method)
    cfg = config or RestoreConfig()
    roles = assign_priors(spec, priors)
    norm = normalization_for(measured, spec, roles, normalization)
    start = time.perf_counter()
    data = norm.forward(measured)
    if cfg.uncertainty and not spec.uncertainty:
        uncertain = ", ".join(m.name for m in METHODS.values() if m.uncertainty)
        raise AxialSRError(f"method {method} gives no uncertainty; methods that do: {uncertain}")
    out, history, spread = spec.run(
        data, acquisition, roles, cfg, checkpoint_dir=checkpoint_dir, resume=resume, progress=progress
    )
    if cfg.consistency if cfg.consistency is not None else spec.consistent:
        out = project_onto_measurements(out, data, acquisition, cfg.projection)
    volume = norm.inverse(out)
    uncertainty = None
    if spread is not None:  # normalised units -> input units, calibrated (benchmarks/results/uncertainty.md)
        floor = float(roles["lateral"].meta.get("pair_rmse", 0.0)) if "lateral" in roles else 0.0
        scale = UNCERTAINTY_SCALE if cfg.uncertainty_scale is None else cfg.uncertainty_scale
        sigma = calibrated_uncertainty(spread, floor, scale)
        uncertainty = (sigma * 0.5 * (norm.high - norm.low)).astype(np.float32)
    seconds = time.perf_counter() - start
    rms = measurement_residual(volume, np.asarray(measured, np.float32), acquisition)
    return Restoration(volume, method, seconds, history, norm, rms, uncertainty)
