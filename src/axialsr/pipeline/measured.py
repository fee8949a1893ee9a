"""What a measured volume says about how it was measured: its acquisition (the factor from the voxel size
or as given, with the sections found missing or damaged in its data), and the voxel size of its isotropic
restoration."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.io import Volume, VolumeSource
from axialsr.operators.acquisition import Acquisition, present_sections
from axialsr.operators.bad_sections import BadSection


def bad_sections_for(
    volume: Volume | VolumeSource, bad_sections: str | Sequence[int] | Sequence[BadSection] | None = "auto"
) -> list[BadSection]:
    """The sections of `volume` that carry no information: found in its data with 'auto' (see
    `axialsr.operators.bad_sections`; warns with one line naming them), none with 'none' or None, or the given
    indices ('14,27' or a sequence; kind 'named'). AxialSRError when an index is outside the stack.

    Examples
    --------
    >>> import numpy as np
    >>> stack = Volume(np.random.default_rng(0).integers(50, 200, (6, 32, 32)).astype(np.uint8))
    >>> stack.data[2] = 0
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     found = bad_sections_for(stack)
    >>> [(b.index, b.kind) for b in found], str(caught[0].message)
    ([(2, 'blank')], 'section 2 looks missing or damaged (2 blank); it is left out and restored from its neighbours')
    >>> [b.index for b in bad_sections_for(stack, "1,4")], bad_sections_for(stack, "none")
    ([1, 4], [])
    """
    from axialsr.operators.bad_sections import describe_bad_sections, find_bad_sections, parse_bad_sections

    data = volume if isinstance(volume, VolumeSource) else volume.data
    depth = data.shape[0]
    if (
        bad_sections is not None
        and not isinstance(bad_sections, str)
        and all(isinstance(b, BadSection) for b in bad_sections)
    ):
        found = list(bad_sections)
    else:
        chosen = parse_bad_sections(bad_sections)
        if chosen == "auto":
            found = find_bad_sections(data)
            if found:
                warnings.warn(describe_bad_sections(found), stacklevel=2)
        else:
            found = [BadSection(k, "named") for k in chosen]
    present_sections(tuple(sorted({b.index for b in found})), depth)  # every index inside, one left
    return found


def acquisition_for(
    volume: Volume | VolumeSource,
    factor: float | None = None,
    model: str = "average",
    fwhm: float | None = None,
    bad_sections: str | Sequence[int] | Sequence[BadSection] | None = "auto",
) -> Acquisition:
    """The acquisition of a measured volume: factor s = `factor` when given, else dz/dx from its voxel
    size; `model` and `fwhm` (isotropic voxels, default s) as in `axialsr.operators.acquisition`; its missing
    sections from `bad_sections` (see `bad_sections_for`: by default found in the data).

    Raises AxialSRError when no factor is known or it is below 1; warns when a given factor contradicts
    the voxel size (the output would not be isotropic) or when the voxel size looks uncalibrated."""
    from_file = volume.anisotropy
    if factor is not None and (not np.isfinite(factor) or factor < 1):
        raise AxialSRError(f"the axial factor must be >= 1 (z sampled more coarsely than x), got {factor}")
    if factor is None:
        if from_file is None:
            raise AxialSRError("the input has no voxel size: give the factor (dz/dx) or the voxel size")
        factor = from_file
        if volume.voxel_size is not None and np.allclose(volume.voxel_size, 1.0):
            warnings.warn(
                "the voxel size is 1x1x1 (uncalibrated?): factor 1 leaves z as it is; give the factor or voxel size",
                stacklevel=2,
            )
    elif from_file is not None and np.isfinite(factor) and abs(factor / from_file - 1) > 0.01:
        dz, _, dx = volume.voxel_size
        warnings.warn(
            f"factor {factor:g} differs from the voxel size's dz/dx = {from_file:g}: the output's z spacing will be "
            f"{dz / factor:.4g} against x {dx:.4g} {volume.unit}, not isotropic",
            stacklevel=2,
        )
    if factor is None or not np.isfinite(factor) or factor < 1:
        raise AxialSRError(f"the axial factor must be >= 1 (z sampled more coarsely than x), got {factor}")
    return Acquisition(float(factor), model, fwhm, **sections_of(bad_sections_for(volume, bad_sections)))


def sections_of(found: Sequence[BadSection]) -> dict[str, tuple]:
    """What bad sections make of an acquisition: `missing` (those left out) and `corrections` (those
    matched to their neighbours and kept), as keyword arguments of `Acquisition`.

    Examples
    --------
    >>> sections_of([BadSection(3, "blank"), BadSection(5, "intensity", gain=1.5, offset=-10.0)])
    {'missing': (3,), 'corrections': ((5, 1.5, -10.0),)}
    """
    return {
        "missing": tuple(b.index for b in found if b.excluded),
        "corrections": tuple((b.index, b.gain, b.offset) for b in found if not b.excluded),
    }


def output_voxel_size(volume: Volume | VolumeSource, factor: float) -> tuple[float, float, float] | None:
    """Voxel size of the isotropic output: z spacing dz / s (None when the input has none)."""
    if volume.voxel_size is None:
        return None
    dz, dy, dx = volume.voxel_size
    return (dz / factor, dy, dx)
