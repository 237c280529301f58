"""emkit.io.volumes: every backend on tiny volumes the tests write (cloud-volume, h5py, zarr, tensorstore, tifffile)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import tifffile

from emkit.io.volumes import ArrayVolume, open_volume, parse_uri

VOX = (8, 8, 40)
OFFSET = (10, 20, 3)
SIZE = (40, 30, 9)  # x, y, z


def _xyz_data(size, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, 250, size=size).astype(dtype)  # (x, y, z)


@pytest.fixture(scope="module")
def precomputed(tmp_path_factory):
    """An anisotropic 2-mip image and a uint64 segmentation written with cloud-volume (raw, uncompressed)."""
    from cloudvolume import CloudVolume

    root = tmp_path_factory.mktemp("pc")
    img = _xyz_data(SIZE)
    info = CloudVolume.create_new_info(num_channels=1, layer_type="image", data_type="uint8", encoding="raw",
                                       resolution=VOX, voxel_offset=OFFSET, chunk_size=(16, 16, 4),
                                       volume_size=SIZE)
    cv = CloudVolume(f"file://{root}/em", info=info, compress=False, progress=False)
    cv.add_scale((2, 2, 1), chunk_size=(16, 16, 4))
    cv.commit_info()
    cv[:, :, :] = img[..., None]
    cv1 = CloudVolume(f"file://{root}/em", mip=1, compress=False, progress=False)
    img1 = img[::2, ::2, :]  # our own mip-1 content (x, y halved)
    cv1[:, :, :] = img1[..., None]
    seg = _xyz_data(SIZE, np.uint64, seed=1) * np.uint64(1_000_000_007)
    sinfo = CloudVolume.create_new_info(num_channels=1, layer_type="segmentation", data_type="uint64",
                                        encoding="raw", resolution=VOX, voxel_offset=OFFSET,
                                        chunk_size=(16, 16, 4), volume_size=SIZE)
    sv = CloudVolume(f"file://{root}/seg", info=sinfo, compress=False, progress=False)
    sv.commit_info()
    sv[:, :, :] = seg[..., None]
    return root, img, img1, seg


def test_precomputed_metadata_and_read(precomputed):
    root, img, _, _ = precomputed
    vol = open_volume(f"precomputed://file://{root}/em")
    assert vol.mip == 0 and vol.layer_type == "image" and vol.dtype == np.uint8 and vol.num_channels == 1
    np.testing.assert_allclose(vol.voxel_size_nm, VOX)
    np.testing.assert_array_equal(vol.offset_vox, OFFSET)
    np.testing.assert_array_equal(vol.shape_vox, SIZE)
    np.testing.assert_array_equal(vol.chunk_size_vox, (16, 16, 4))
    assert [v.tolist() for v in vol.mip_voxel_sizes_nm] == [[8, 8, 40], [16, 16, 40]]
    start, stop = vol.bounds_nm()
    np.testing.assert_allclose(start, np.multiply(OFFSET, VOX))
    np.testing.assert_allclose(stop, np.multiply(np.add(OFFSET, SIZE), VOX))
    arr = vol.read((12, 25, 4), (30, 29, 8))
    assert arr.shape == (4, 4, 18)  # (z, y, x)
    np.testing.assert_array_equal(arr, img[2:20, 5:9, 1:5].transpose(2, 1, 0))


def test_precomputed_bare_paths_and_segmentation(precomputed):
    root, _, _, seg = precomputed
    vol = open_volume(str(root / "seg"))  # a bare folder with an info file
    assert vol.layer_type == "segmentation" and vol.dtype == np.uint64
    np.testing.assert_array_equal(vol.read(OFFSET, np.add(OFFSET, SIZE)), seg.transpose(2, 1, 0))
    vol2 = open_volume(f"file://{root}/seg")
    assert vol2.read((10, 20, 3), (11, 21, 4))[0, 0, 0] == seg[0, 0, 0]


def test_read_outside_bounds_names_box_and_bounds(precomputed):
    root, *_ = precomputed
    vol = open_volume(f"precomputed://file://{root}/em")
    with pytest.raises(ValueError, match=r"outside the bounds \[\[10, 20, 3\], \[50, 50, 12\]\)") as err:
        vol.read((5, 20, 3), (15, 25, 5))
    assert "[5, 20, 3]" in str(err.value)
    with pytest.raises(ValueError, match="empty box"):
        vol.read((12, 22, 4), (12, 25, 6))


def test_cutout_units_required_and_equivalent(precomputed):
    root, img, _, _ = precomputed
    vol = open_volume(f"precomputed://file://{root}/em")
    with pytest.raises(TypeError):
        vol.cutout((20, 30, 6), (8, 8, 2))  # units is a required keyword
    with pytest.raises(ValueError, match="units"):
        vol.cutout((20, 30, 6), (8, 8, 2), units="um")
    a_vox, v_vox = vol.cutout((20, 30, 6), (8, 6, 2), units="vox")
    a_nm, v_nm = vol.cutout(np.multiply((20, 30, 6), VOX) + 3.0, (8, 6, 2), units="nm")  # inside voxel (20,30,6)
    np.testing.assert_array_equal(a_vox, a_nm)
    assert v_vox.all() and v_nm.all() and a_vox.shape == (2, 6, 8)
    # box starts at center - shape // 2
    np.testing.assert_array_equal(a_vox, img[20 - 4 - 10:20 + 4 - 10, 30 - 3 - 20:30 + 3 - 20, 5 - 3:7 - 3].T)


def test_cutout_zero_pads_outside(precomputed):
    root, img, _, _ = precomputed
    vol = open_volume(f"precomputed://file://{root}/em")
    arr, valid = vol.cutout((10, 20, 3), (4, 4, 4), units="vox")  # the first voxel: half the box is outside
    assert arr.shape == valid.shape == (4, 4, 4)
    assert valid.sum() == 2 * 2 * 2
    assert valid[2:, 2:, 2:].all() and not valid[:2].any()
    assert (arr[~valid] == 0).all()
    np.testing.assert_array_equal(arr[2:, 2:, 2:], img[0:2, 0:2, 0:2].T)
    arr, valid = vol.cutout((1000, 1000, 1000), (4, 4, 4), units="vox")  # fully outside
    assert not valid.any() and not arr.any()


def test_at_mip(precomputed):
    root, _, img1, _ = precomputed
    vol = open_volume(f"precomputed://file://{root}/em").at_mip(1)
    assert vol.mip == 1
    np.testing.assert_allclose(vol.voxel_size_nm, (16, 16, 40))
    np.testing.assert_array_equal(vol.offset_vox, (5, 10, 3))
    np.testing.assert_array_equal(vol.shape_vox, (20, 15, 9))
    np.testing.assert_array_equal(vol.read(vol.offset_vox, vol.stop_vox), img1.transpose(2, 1, 0))
    # same nm centre at both mips lands on the same place
    c_nm = np.array([30, 35, 7]) * np.array(VOX, float)
    a1, _ = vol.cutout(c_nm, (1, 1, 1), units="nm")
    assert a1[0, 0, 0] == img1[(30 - 10) // 2, (35 - 20) // 2, 7 - 3]
    with pytest.raises(ValueError, match="mip 5 not available"):
        open_volume(f"precomputed://file://{root}/em", mip=5)


def test_tensorstore_spec_reads_same(precomputed):
    import tensorstore as ts

    root, img, _, _ = precomputed
    vol = open_volume(f"precomputed://file://{root}/em")
    spec = vol.tensorstore_spec()
    assert spec["fill_missing_data_reads"] is False and spec["driver"] == "neuroglancer_precomputed"
    store = ts.open(spec, read=True).result()
    arr = store[12:30, 25:29, 4:8, 0].read().result()  # (x, y, z) absolute voxels
    np.testing.assert_array_equal(arr, img[2:20, 5:9, 1:5])


def test_pickle_roundtrip(precomputed):
    root, *_ = precomputed
    vol = open_volume(f"precomputed://file://{root}/em")
    vol2 = pickle.loads(pickle.dumps(vol))
    np.testing.assert_array_equal(vol2.read((10, 20, 3), (14, 24, 5)), vol.read((10, 20, 3), (14, 24, 5)))


def test_hdf5(tmp_path):
    data = np.arange(5 * 6 * 7, dtype=np.uint16).reshape(5, 6, 7)  # (z, y, x)
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f.create_dataset("grp/seg", data=data, chunks=(1, 6, 7))
    with pytest.raises(ValueError, match="voxel_size_nm"):
        open_volume(f"h5://{tmp_path}/v.h5#grp/seg")
    with pytest.raises(KeyError, match="grp/seg"):
        open_volume(f"h5://{tmp_path}/v.h5#nope", voxel_size_nm=(6, 6, 30))
    vol = open_volume(f"h5://{tmp_path}/v.h5#grp/seg", voxel_size_nm=(6, 6, 30))
    assert vol.layer_type == "segmentation"  # uint16 guessed as labels
    np.testing.assert_array_equal(vol.shape_vox, (7, 6, 5))
    np.testing.assert_array_equal(vol.chunk_size_vox, (7, 6, 1))
    np.testing.assert_array_equal(vol.read((1, 2, 3), (4, 6, 5)), data[3:5, 2:6, 1:4])
    arr, valid = vol.cutout((0, 0, 0), (2, 2, 2), units="nm")
    assert valid.sum() == 1 and arr[1, 1, 1] == data[0, 0, 0]
    vol2 = open_volume(str(tmp_path / "v.h5") + "#grp/seg", voxel_size_nm=(6, 6, 30), offset_vox=(100, 0, 0))
    np.testing.assert_array_equal(vol2.read((101, 2, 3), (104, 6, 5)), data[3:5, 2:6, 1:4])
    with pytest.raises(ValueError, match="mip 0 only"):
        vol.at_mip(1)


def test_zarr_attrs_and_ome_multiscales(tmp_path):
    import zarr

    data = np.random.default_rng(0).integers(0, 255, (6, 8, 10), dtype=np.uint8)  # (z, y, x)
    z = zarr.open(str(tmp_path / "a.zarr"), mode="w", shape=data.shape, chunks=(2, 4, 5), dtype=data.dtype)
    z[:] = data
    z.attrs["resolution"] = [4, 4, 40]  # (x, y, z) nm
    vol = open_volume(f"zarr://{tmp_path}/a.zarr")
    np.testing.assert_allclose(vol.voxel_size_nm, (4, 4, 40))
    np.testing.assert_array_equal(vol.chunk_size_vox, (5, 4, 2))
    np.testing.assert_array_equal(vol.read((1, 2, 3), (6, 8, 5)), data[3:5, 2:8, 1:6])
    # OME-zarr: two levels, scale transforms in (z, y, x)
    g = zarr.open_group(str(tmp_path / "ome.zarr"), mode="w")
    g.create_dataset("s0", data=data, chunks=(2, 4, 5))
    g.create_dataset("s1", data=data[:, ::2, ::2], chunks=(2, 4, 5))
    g.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": a} for a in "zyx"], "datasets": [
        {"path": "s0", "coordinateTransformations": [{"type": "scale", "scale": [40, 4, 4]}]},
        {"path": "s1", "coordinateTransformations": [{"type": "scale", "scale": [40, 8, 8]}]}]}]
    vol = open_volume(str(tmp_path / "ome.zarr"))
    assert [v.tolist() for v in vol.mip_voxel_sizes_nm] == [[4, 4, 40], [8, 8, 40]]
    v1 = vol.at_mip(1)
    np.testing.assert_array_equal(v1.shape_vox, (5, 4, 6))
    np.testing.assert_array_equal(v1.read((0, 0, 0), (5, 4, 6)), data[:, ::2, ::2])
    with pytest.raises(ValueError, match="no voxel size"):
        zarr.open(str(tmp_path / "b.zarr"), mode="w", shape=(2, 2, 2), dtype="u1")
        open_volume(f"zarr://{tmp_path}/b.zarr")


def test_n5_via_tensorstore(tmp_path):
    import tensorstore as ts

    data = np.arange(4 * 5 * 6, dtype=np.uint32).reshape(4, 5, 6)
    store = ts.open({"driver": "n5", "kvstore": {"driver": "file", "path": str(tmp_path / "v.n5")}, "path": "raw",
                     "metadata": {"dimensions": list(data.shape), "blockSize": [2, 5, 6], "dataType": "uint32",
                                  "compression": {"type": "raw"}}}, create=True).result()
    store[...] = data
    vol = open_volume(f"n5://{tmp_path}/v.n5#raw", voxel_size_nm=(8, 8, 8))
    np.testing.assert_array_equal(vol.read((0, 0, 0), (6, 5, 4)), data)
    assert vol.layer_type == "segmentation"


def test_tiff_stack_and_folder(tmp_path):
    data = np.random.default_rng(1).integers(0, 255, (3, 8, 9), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", data, photometric="minisblack")
    vol = open_volume(f"tif://{tmp_path}/stack.tif", voxel_size_nm=(5, 5, 50))
    np.testing.assert_array_equal(vol.shape_vox, (9, 8, 3))
    np.testing.assert_array_equal(vol.read((2, 1, 1), (9, 8, 3)), data[1:3, 1:8, 2:9])
    (tmp_path / "slices").mkdir()
    for i, sl in enumerate(data):
        tifffile.imwrite(tmp_path / "slices" / f"z{i:03d}.tif", sl)
    vol = open_volume(str(tmp_path / "slices"), voxel_size_nm=(5, 5, 50))
    np.testing.assert_array_equal(vol.read((0, 0, 0), (9, 8, 3)), data)
    with pytest.raises(ValueError, match="voxel_size_nm"):
        open_volume(str(tmp_path / "slices"))


def test_array_volume_and_multichannel():
    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # (c, z, y, x)
    vol = open_volume(data, voxel_size_nm=(1, 1, 1), offset_vox=(10, 10, 10))
    assert isinstance(vol, ArrayVolume) and vol.num_channels == 2 and vol.layer_type == "image"
    arr, valid = vol.cutout((10, 10, 10), (2, 2, 2), units="vox")
    assert arr.shape == (2, 2, 2, 2) and valid.sum() == 1
    np.testing.assert_array_equal(arr[:, 1, 1, 1], data[:, 0, 0, 0])


def test_parse_uri():
    assert parse_uri("gs://bucket/em")[0] == "precomputed"
    assert parse_uri("graphene://https://x/segmentation/table/t")[0] == "precomputed"
    assert parse_uri("h5:///a/b.h5#raw") == ("h5", "/a/b.h5", "raw")
    assert parse_uri("/a/b.hdf5#x/y") == ("h5", "/a/b.hdf5", "x/y")
    assert parse_uri("zarr://file:///a/b.zarr#s0") == ("zarr", "/a/b.zarr", "s0")
    with pytest.raises(ValueError, match="unknown volume scheme"):
        parse_uri("ftp://x/y")
    from emkit.io.volumes import _cloudvolume_path

    g = "graphene://https://minnie.microns-daf.com/segmentation/table/minnie65_public"
    assert _cloudvolume_path(g) == g  # handed to cloud-volume unchanged (network needed to open)
    assert _cloudvolume_path("gs://b/em") == "precomputed://gs://b/em"
    assert _cloudvolume_path("/tmp/x") == "precomputed://file:///tmp/x"
    with pytest.raises(ValueError, match="cannot tell the format"):
        parse_uri("/no/such/thing")
