"""Reading and writing volumes: TIFF/OME-TIFF, HDF5 (CREMI-style), Zarr/OME-Zarr and .npy.

A volume is a 3D array ordered (Z, Y, X) plus its voxel size (dz, dy, dx) in physical units (`unit`,
nanometres unless the file says otherwise). Paths may name a dataset inside a container:
`file.h5:volumes/raw`, `store.zarr:raw`. Every write goes to a temporary path beside the target and is
renamed into place, so an interrupted run never leaves a half-written output.

The parts: `units` (length units and voxel sizes), `paths` (path specs, formats, output checks),
`atomic` (atomic writes), `volume` (the in-memory `Volume`), `formats` (whole-volume reading and writing
per format), `sources` (region-wise reading of volumes larger than memory), `ome` (OME-Zarr stores and
metadata), `pyramid` (multiscale levels).
None of them imports torch.
"""

from axialsr.io.atomic import atomic_write, temp_sibling, write_text_atomic
from axialsr.io.formats import check_finite, hdf5_datasets, read_volume, write_volume
from axialsr.io.ome import create_image_array, create_image_group, write_ome_zarr_metadata
from axialsr.io.paths import check_output, split_path, tagged_sibling
from axialsr.io.sources import VolumeSource, open_source
from axialsr.io.units import VoxelSize, canonical_unit, convert_length, parse_voxel_size
from axialsr.io.volume import Volume

__all__ = [
    "Volume",
    "VolumeSource",
    "VoxelSize",
    "atomic_write",
    "canonical_unit",
    "check_finite",
    "check_output",
    "convert_length",
    "create_image_array",
    "create_image_group",
    "hdf5_datasets",
    "open_source",
    "parse_voxel_size",
    "read_volume",
    "split_path",
    "tagged_sibling",
    "temp_sibling",
    "write_ome_zarr_metadata",
    "write_text_atomic",
    "write_volume",
]
