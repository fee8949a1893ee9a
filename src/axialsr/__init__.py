"""axialsr: reference-free axial super-resolution of anisotropic 3D microscopy volumes.

The main entry points are `axialsr.api` (one function per task: `restore`, `run`, `train_prior`,
`validate`, ...), the settings dataclasses of `axialsr.settings` (exported here with the `Runtime`) and
the method registry `axialsr.methods`. Importing axialsr does not import torch.
"""

from axialsr.errors import AxialSRError
from axialsr.io import Volume, read_volume, write_volume
from axialsr.methods import DEFAULT_METHOD, MethodSpec, methods, register
from axialsr.methods.inr import FieldConfig, ReconstructionConfig
from axialsr.methods.lateral import LateralConfig
from axialsr.methods.slicewise import SlicewiseConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.measurement import simulate
from axialsr.pipeline.blocks import BlockConfig
from axialsr.settings import PriorConfig, RestoreConfig, Runtime, ValidationConfig

__version__ = "0.2.0"

__all__ = [
    "DEFAULT_METHOD",
    "Acquisition",
    "AxialSRError",
    "BlockConfig",
    "FieldConfig",
    "LateralConfig",
    "MethodSpec",
    "PriorConfig",
    "ReconstructionConfig",
    "RestoreConfig",
    "Runtime",
    "SlicewiseConfig",
    "ValidationConfig",
    "Volume",
    "__version__",
    "methods",
    "read_volume",
    "register",
    "simulate",
    "write_volume",
]
