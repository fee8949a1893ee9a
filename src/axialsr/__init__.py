"""axialsr: reference-free axial super-resolution of anisotropic 3D microscopy volumes.

The main entry points are `axialsr.api` (one function per task: `restore`, `run`, `train_prior`,
`validate`, ...) and the configuration dataclasses exported here.
"""

from axialsr.acquisition import Acquisition, simulate
from axialsr.errors import AxialSRError
from axialsr.io import Volume, read_volume, write_volume
from axialsr.restore import DEFAULT_METHOD, METHODS
from axialsr.settings import (
    BlockConfig,
    FieldConfig,
    LateralConfig,
    PriorConfig,
    ReconstructionConfig,
    RestoreConfig,
    SlicewiseConfig,
    ValidationConfig,
)

__version__ = "0.2.0"

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Acquisition",
    "AxialSRError",
    "BlockConfig",
    "FieldConfig",
    "LateralConfig",
    "PriorConfig",
    "ReconstructionConfig",
    "RestoreConfig",
    "SlicewiseConfig",
    "ValidationConfig",
    "Volume",
    "__version__",
    "read_volume",
    "simulate",
    "write_volume",
]
