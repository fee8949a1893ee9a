"""Interpolation along z (`nearest`, `linear`, `cubic`): the baselines every method is compared with.

Each measured slab's value sits at the slab's centre and is interpolated onto the isotropic grid
(`axialsr.operators.interpolation.interpolate_z`); `cubic` is a natural cubic spline, whose tails reach about six slabs.
"""

from __future__ import annotations

from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def _interpolation(name: str):
    def run(inputs: MethodInputs) -> MethodOutput:
        from axialsr.operators.interpolation import interpolate_z

        return MethodOutput(interpolate_z(inputs.measured, inputs.acquisition.factor, name))

    return run


NEAREST = register(MethodSpec("nearest", "nearest interpolation along z", _interpolation("nearest"), z_support=1))
LINEAR = register(MethodSpec("linear", "linear interpolation along z", _interpolation("linear"), z_support=1))
CUBIC = register(MethodSpec("cubic", "cubic interpolation along z", _interpolation("cubic"), z_support=6))
