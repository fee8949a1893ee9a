"""axialsr: reference-free axial super-resolution of anisotropic 3D microscopy volumes."""

from axialsr.acquisition import Acquisition, simulate
from axialsr.errors import AxialSRError
from axialsr.io import Volume, read_volume, write_volume

__version__ = "0.1.0"

__all__ = ["Acquisition", "AxialSRError", "Volume", "__version__", "read_volume", "simulate", "write_volume"]
