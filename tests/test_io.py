import numpy as np
import pytest

from axialsr.errors import AxialSRError
from axialsr.io import read_volume, write_volume

FORMATS = ["vol.tif", "vol.ome.tif", "vol.h5", "vol.h5:volumes/raw", "vol.h5:my/data", "vol.zarr", "vol.zarr:raw"]


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_round_trip_keeps_data_and_voxel_size(tmp_path, name, dtype):
    rng = np.random.default_rng(0)
    data = (rng.random((5, 7, 9)) * 200).astype(dtype)
    spec = str(tmp_path / name)
    write_volume(spec, data, voxel_size=(40.0, 4.0, 4.5))
    vol = read_volume(spec)
    assert vol.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(vol.data, data)
    assert vol.voxel_size == pytest.approx((40.0, 4.0, 4.5))
    assert vol.anisotropy == pytest.approx(40.0 / 4.5)


def test_npy_round_trip_and_voxel_override(tmp_path):
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    write_volume(tmp_path / "v.npy", data)
    vol = read_volume(tmp_path / "v.npy", voxel_size=(10, 2, 2))
    np.testing.assert_array_equal(vol.data, data)
    assert vol.voxel_size == (10.0, 2.0, 2.0)


def test_cremi_style_hdf5_default_key(tmp_path):
    import h5py

    with h5py.File(tmp_path / "sample.hdf", "w") as f:
        d = f.create_dataset("volumes/raw", data=np.ones((4, 6, 6), np.uint8))
        d.attrs["resolution"] = (40.0, 4.0, 4.0)
        f.create_dataset("volumes/labels/neuron_ids", data=np.zeros((4, 6, 6), np.uint64))
    vol = read_volume(tmp_path / "sample.hdf")
    assert vol.data.shape == (4, 6, 6) and vol.anisotropy == 10.0


def test_missing_dataset_key_lists_available(tmp_path):
    write_volume(tmp_path / "a.h5:volumes/raw", np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(AxialSRError, match="no dataset 'nope'.*volumes/raw"):
        read_volume(str(tmp_path / "a.h5:nope"))


@pytest.mark.parametrize("shape", [(8, 8), (1, 8, 8)])
def test_2d_input_is_rejected(tmp_path, shape):
    write_volume(tmp_path / "x.npy", np.zeros(shape, np.uint8)) if len(shape) == 3 else np.save(
        tmp_path / "x.npy", np.zeros(shape)
    )
    with pytest.raises(AxialSRError, match="3D"):
        read_volume(tmp_path / "x.npy")


def test_4d_needs_a_channel(tmp_path):
    data = np.stack([np.full((3, 4, 4), c, np.uint8) for c in range(2)], axis=1)  # Z C Y X
    import tifffile

    tifffile.imwrite(tmp_path / "c.tif", data, imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(AxialSRError, match="pick a channel") as info:  # in the library's words
        read_volume(tmp_path / "c.tif")
    assert info.value.setting == "channel" and "--" not in str(info.value)
    vol = read_volume(tmp_path / "c.tif", channel=1)
    assert vol.data.shape == (3, 4, 4) and np.all(vol.data == 1)


def test_nan_is_rejected(tmp_path):
    data = np.zeros((3, 4, 4), np.float32)
    data[1, 2, 2] = np.nan
    np.save(tmp_path / "n.npy", data)
    with pytest.raises(AxialSRError, match="NaN"):
        read_volume(tmp_path / "n.npy")


def test_existing_output_needs_force_and_write_is_atomic(tmp_path):
    path = tmp_path / "o.tif"
    write_volume(path, np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(AxialSRError, match="set force to overwrite") as info:
        write_volume(path, np.ones((3, 4, 4), np.uint8))
    assert info.value.setting == "force"
    write_volume(path, np.ones((3, 4, 4), np.uint8), force=True)
    assert read_volume(path).data.max() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tif"]  # no temp files left behind


def test_unwritable_folder(tmp_path):
    with pytest.raises(AxialSRError, match="does not exist"):
        write_volume(tmp_path / "missing" / "o.tif", np.zeros((3, 4, 4), np.uint8))
