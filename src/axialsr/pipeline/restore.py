"""The restoration layer: one function that runs any registered method (`axialsr.methods`) on an array.

`restore_array` takes a measured stack in its own units, an `Acquisition`, the trained priors a method
needs and a `RestoreConfig`; it normalises the intensities (one rule, `normalization_for`), runs the
method on the output grid, optionally projects the result onto the measurements (`axialsr.operators.measurement`),
calibrates the spread of its views into an uncertainty, and maps everything back to the input's units.
Whole volumes (`api`), blocks of larger ones (`blocks`) and the degraded copies of `validate` all go
through it, so every caller runs the same method the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.learning.priors import LateralRegressor, Prior
from axialsr.methods import MethodInputs, MethodSpec, get_method, methods
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.operators.measurement import measurement_operator, projection_z_support
from axialsr.settings import RestoreConfig, Runtime

# One standard deviation of the error per unit of spread of the lateral views (the 2 plane families x 4
# flips disagree where the restoration is uncertain), fitted on one synthetic case and tested on the others
# by benchmarks/uncertainty.py.
UNCERTAINTY_SCALE = 1.24


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


def calibrated_uncertainty(spread: np.ndarray, floor: float, scale: float = UNCERTAINTY_SCALE) -> np.ndarray:
    """One standard deviation of the error per voxel: sqrt((scale * spread)^2 + floor^2), where `spread` is
    the standard deviation of the lateral views and `floor` the regressor's RMS error on its training pairs
    (the error no disagreement between views shows); all in the same (normalised) units."""
    return np.sqrt((scale * np.asarray(spread, np.float64)) ** 2 + float(floor) ** 2)


def ends_with_projection(spec: MethodSpec, config: RestoreConfig) -> bool:
    """Whether a restoration with `spec` under `config` ends with the projection onto the measurements."""
    return config.consistency if config.consistency is not None else spec.consistent


def blockwise_z_support(spec: MethodSpec, acquisition: Acquisition, config: RestoreConfig) -> int:
    """The measured slices on each side that a block of `spec` must see for its output to match the
    whole volume's: the method's own `z_support`, plus the reach of the final projection when it ends with
    one (a smooth correction spreads each slab's residual over its neighbours)."""
    support = spec.z_support or 0
    if ends_with_projection(spec, config):
        support += projection_z_support(acquisition, config.projection)
    return support


def normalization_for(
    source, spec: MethodSpec, priors: dict[type[Prior], Prior], given: Normalization | None = None
) -> Normalization:
    """The one intensity rule: `given` if any, else the normalisation of the first prior the method uses
    (the space it was trained in), else one fitted on `source` (an array or an `io.VolumeSource`; both
    sample the same voxels, so whole-volume and blockwise runs agree)."""
    if given is not None:
        return given
    for kind in (*spec.needs, *spec.optional):
        if kind in priors:
            return priors[kind].normalization
    return Normalization.fit(source)


def restore_array(
    measured: np.ndarray,
    method: str,
    acquisition: Acquisition,
    *,
    priors: Prior | Sequence[Prior] | None = None,
    config: RestoreConfig | None = None,
    normalization: Normalization | None = None,
    checkpoint_dir=None,
    resume: bool = False,
    runtime: Runtime | None = None,
    bridged: bool = False,
) -> Restoration:
    """Restore a measured stack (Z_lr, Y, X; any dtype, input units) onto the isotropic grid.

    Parameters
    ----------
    measured : ndarray
        The anisotropic stack, z first.
    method : str
        A registered method's name (`axialsr.methods`).
    acquisition : Acquisition
        How z was measured (factor, model, PSF width), which sections are missing (bridged from their
        neighbours before the method runs and left out of the projection onto the measurements) and which
        are corrected (`Acquisition.measurements` does both).
    priors : Prior or sequence of Prior, optional
        The trained priors the method needs (matched by type; moved to the runtime's device).
    config : RestoreConfig, optional
        Settings of the methods (defaults: `RestoreConfig()`).
    normalization : Normalization, optional
        Intensity normalisation; default: see `normalization_for`.
    checkpoint_dir, resume
        Checkpoints of the iterative methods.
    runtime : Runtime, optional
        Device, seed, progress bars, checkpoint cadence.
    bridged : bool
        `measured` is corrected and its missing sections bridged already (a block bridges those at its
        edges from sections outside it).

    Returns
    -------
    Restoration
        The volume as float32 in the input's units, with timing and diagnostics.

    Examples
    --------
    >>> import numpy as np
    >>> from axialsr.operators.measurement import simulate
    >>> truth = np.random.default_rng(0).random((16, 8, 8)).astype(np.float32)
    >>> acq = Acquisition(4)
    >>> out = restore_array(simulate(truth, acq), "linear", acq, config=RestoreConfig(consistency=True))
    >>> out.volume.shape, out.measurement_rms < 1e-5
    ((16, 8, 8), True)
    """
    spec = get_method(method)
    cfg = config or RestoreConfig()
    rt = runtime or Runtime()
    by_type = spec.assign(priors)
    if by_type:
        from axialsr.device import resolve_device

        device = resolve_device(rt.device)
        by_type = {kind: prior.to(device) for kind, prior in by_type.items()}
    if not bridged:
        measured = acquisition.measurements(measured)
    acquisition = acquisition.as_corrected()
    norm = normalization_for(measured, spec, by_type, normalization)
    start = time.perf_counter()
    data = norm.forward(measured)
    if cfg.uncertainty and not spec.uncertainty:
        uncertain = ", ".join(name for name, m in methods().items() if m.uncertainty)
        raise AxialSRError(f"method {method} gives no uncertainty; methods that do: {uncertain}")
    inputs = MethodInputs(
        data, acquisition, by_type, cfg, rt, None if checkpoint_dir is None else str(checkpoint_dir), resume
    )
    output = spec.run(inputs)
    out = output.volume
    if ends_with_projection(spec, cfg):
        out = measurement_operator(acquisition, len(out), len(data), projection=cfg.projection).project(out, data)
    volume = norm.inverse(out)
    uncertainty = None
    if output.spread is not None:  # normalised units -> input units, calibrated (benchmarks/results/uncertainty.md)
        regressor = by_type.get(LateralRegressor)
        floor = regressor.pair_rmse if regressor is not None else 0.0
        scale = UNCERTAINTY_SCALE if cfg.uncertainty_scale is None else cfg.uncertainty_scale
        sigma = calibrated_uncertainty(output.spread, floor, scale)
        uncertainty = (sigma * 0.5 * (norm.high - norm.low)).astype(np.float32)
    seconds = time.perf_counter() - start
    rms = measurement_operator(acquisition, len(volume), len(measured)).residual_rms(volume, measured)
    return Restoration(volume, method, seconds, output.history, norm, rms, uncertainty)
