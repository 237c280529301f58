"""emkit.cutouts: geometry, resampling, masks, border handling, errors, the resumable zarr cache.

Runs on the project's synthetic world (``open_dataset("synthetic", size="tiny", seed=0)``, 768x768x48 voxels of
8x8x40 nm, mips 0-2), generated once per test session into ``$EMKIT_DATA`` (tests/conftest.py) and shared with the
other test files.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import map_coordinates

from emkit.cutouts import CutoutCache, CutoutSpec, extract_cutouts, object_spec, soma_spec, synapse_cube_spec
from emkit.cutouts import engine as engine_mod
from emkit.cutouts.cache import dataset_cache_name
from emkit.io.datasets import open_dataset

VS = np.array([8.0, 8.0, 40.0])


@pytest.fixture(scope="module")
def ds():
    return open_dataset("synthetic", size="tiny", seed=0)


@pytest.fixture(scope="module")
def synapses(ds):
    return ds.points("synapses").head(12)


def _vox_point(pid, xyz_vox, **extra):
    x, y, z = (np.asarray(xyz_vox, float) * VS)
    return dict(id=pid, x_nm=x, y_nm=y, z_nm=z, **extra)


# ------------------------------------------------------------------------------------------------------- specs
def test_spec_key_is_stable_and_sensitive():
    a = synapse_cube_spec((32, 32, 32), (16, 16, 16))
    b = synapse_cube_spec((32, 32, 32), (16, 16, 16))
    c = synapse_cube_spec((32, 32, 32), (8, 8, 8))
    assert a.key() == b.key() and len(a.key()) == 16
    assert a.key() != c.key()
    assert a.channels == ("raw", "pre_mask", "cleft_mask")
    assert object_spec().channels == ("raw", "object_mask", "masked_raw")
    s = soma_spec(radius_um=0.5, mip=1)
    assert s.channels == ("cell_mask", "nucleus_mask")
    assert s.resolve((16, 16, 40)) == ((63, 63, 25), (16.0, 16.0, 40.0))
    with pytest.raises(ValueError, match="unknown channel"):
        CutoutSpec(channels=("raw", "nope"))
    with pytest.raises(ValueError, match="native"):
        CutoutSpec(voxel_size_nm=None)


# ------------------------------------------------------------------------------------------------ geometry
def test_native_resolution_cutout_is_the_exact_slice(ds):
    em = ds.volume("em")
    spec = CutoutSpec(shape_vox=(10, 12, 4), voxel_size_nm=(8, 8, 40), channels=("raw",), mip=0)
    pts = pd.DataFrame([_vox_point(1, (40, 50, 8)), _vox_point(2, (90, 70, 6))])
    cut = extract_cutouts(ds, pts, spec, progress=False)
    assert cut.x.shape == (2, 1, 4, 12, 10) and cut.x.dtype == np.float32
    for k, (x, y, z) in enumerate([(40, 50, 8), (90, 70, 6)]):
        ref = em.read((x - 5, y - 6, z - 2), (x + 5, y + 6, z + 2)) / 255.0  # (z, y, x), through cloud-volume
        np.testing.assert_allclose(cut.x[k, 0], ref, atol=1e-6)
    assert not cut.at_border.any() and cut.valid.all()


def test_isotropic_resampling_matches_map_coordinates(ds):
    spec = CutoutSpec(shape_vox=(12, 12, 12), voxel_size_nm=(16, 16, 16), channels=("raw",), mip=0,
                      normalization="none")
    c = np.array([500.0, 530.0, 330.0])
    cut = extract_cutouts(ds, pd.DataFrame([dict(id=7, x_nm=c[0], y_nm=c[1], z_nm=c[2])]), spec, progress=False)
    off = (np.arange(12) - 6 + 0.5) * 16.0
    zz, yy, xx = np.meshgrid(*(c[a] + off for a in (2, 1, 0)), indexing="ij")
    coords = np.stack([zz / 40 - 0.5, yy / 8 - 0.5, xx / 8 - 0.5])  # mip-0 voxel coordinates (z, y, x)
    lo = np.floor(coords.reshape(3, -1).min(axis=1)).astype(int) - 1  # (z, y, x), inside the volume here
    hi = np.ceil(coords.reshape(3, -1).max(axis=1)).astype(int) + 2
    em = ds.volume("em").read(lo[::-1], hi[::-1]).astype(np.float64)
    ref = map_coordinates(em, coords - lo[:, None, None, None], order=1, mode="nearest")
    np.testing.assert_allclose(cut.x[0, 0], ref, atol=1e-3)


def test_auto_mip_picks_coarsest_not_coarser_than_target(ds):
    assert engine_mod._pick_mip(ds.volume("em"), (16, 16, 16), None) == 1
    assert engine_mod._pick_mip(ds.volume("em"), (32, 32, 40), None) == 2
    assert engine_mod._pick_mip(ds.volume("em"), (8, 8, 8), None) == 0


def test_border_points_are_padded_and_flagged(ds):
    spec = CutoutSpec(shape_vox=(16, 16, 8), voxel_size_nm=(16, 16, 16), channels=("raw",))
    pts = pd.DataFrame([_vox_point(1, (1, 1, 1)), _vox_point(2, (64, 64, 8))])
    cut = extract_cutouts(ds, pts, spec, progress=False)
    assert cut.at_border.tolist() == [True, False]
    v = cut.valid[0]
    assert 0 < v.mean() < 1
    assert np.all(cut.x[0, 0][~v] == 0)
    assert cut.x[0, 0][v].mean() > 0.1  # real EM inside
    # the corner: low indices are outside the volume (voxel centre < 0 nm)
    assert not v[0, 0, 0] and v[-1, -1, -1]


def test_batched_equals_naive_and_backends_agree(ds, synapses):
    spec = synapse_cube_spec((16, 16, 16), (16, 16, 16))
    pts = synapses
    fast = extract_cutouts(ds, pts, spec, progress=False, batch_size=4)
    naive = extract_cutouts(ds, pts, spec, progress=False, backend="cloudvolume", group_reads=False, batch_size=1)
    vol = extract_cutouts(ds, pts, spec, progress=False, backend="volume")
    np.testing.assert_allclose(fast.x, naive.x, atol=1e-6)
    np.testing.assert_allclose(fast.x, vol.x, atol=1e-6)
    assert (fast.valid == naive.valid).all() and (fast.ids == pts["id"].to_numpy()).all()


# ---------------------------------------------------------------------------------------------------- masks
def test_pre_mask_without_a_vesicles_layer(ds, synapses):
    # which object the masks pick is checked against the world's truth in test_cutouts_synth.py
    spec = synapse_cube_spec((24, 24, 24), (16, 16, 16))
    syn = synapses.head(6)
    by_partner = extract_cutouts(ds, syn, spec, progress=False)
    # with partners known, a dataset without a vesicles layer is enough; without them it is a clear error
    layers = {k: v for k, v in ds.descriptor["layers"].items() if k != "vesicles"}
    no_ves = dataclasses.replace(ds, descriptor={**ds.descriptor, "layers": layers})
    again = extract_cutouts(no_ves, syn, spec, progress=False)
    np.testing.assert_array_equal(again.x, by_partner.x)
    with pytest.raises(KeyError, match="vesicles"):
        extract_cutouts(no_ves, syn.drop(columns=["pre_root_id"]), spec, progress=False)


def test_object_and_soma_specs(ds):
    cells = ds.points("cells")
    spec = object_spec((16, 16, 16), (32, 32, 32))
    cut = extract_cutouts(ds, cells, spec, progress=False)
    raw, mask, masked = cut.x[:, 0], cut.x[:, 1], cut.x[:, 2]
    np.testing.assert_allclose(masked, raw * mask)
    assert (mask[:, 8, 8, 8] == 1).all()  # the centre (the cell's nucleus centre) lies in its own object
    soma = extract_cutouts(ds, cells, soma_spec(radius_um=0.3, mip=1), progress=False)
    assert soma.x.shape[1:] == (2, 15, 38, 38)  # 600 nm at 16x16x40 nm
    cell_m, nuc_m = soma.x[:, 0], soma.x[:, 1]
    assert (nuc_m.sum(axis=(1, 2, 3)) > 0).all()
    assert np.all(nuc_m <= cell_m)  # each nucleus lies inside its cell


# --------------------------------------------------------------------------------------------------- errors
def test_bad_input_errors_name_the_row(ds):
    spec = CutoutSpec(shape_vox=(8, 8, 8), voxel_size_nm=(16, 16, 16))
    good = _vox_point(1, (64, 64, 8))
    with pytest.raises(ValueError, match="empty"):
        extract_cutouts(ds, pd.DataFrame(columns=["id", "x_nm", "y_nm", "z_nm"]), spec, progress=False)
    with pytest.raises(ValueError, match=r"row 1 \(id=2\).*y_nm"):
        extract_cutouts(ds, pd.DataFrame([good, dict(id=2, x_nm=10.0, y_nm=np.nan, z_nm=10.0)]), spec,
                        progress=False)
    with pytest.raises(ValueError, match=r"row 1 \(id=5\).*outside"):
        extract_cutouts(ds, pd.DataFrame([good, dict(id=5, x_nm=1e6, y_nm=10.0, z_nm=10.0)]), spec,
                        progress=False)
    as_vox = pd.DataFrame([dict(id=i, x_nm=20.0 + 9 * i, y_nm=60.0 + 7 * i, z_nm=3.0 + i) for i in range(1, 5)])
    with pytest.raises(ValueError, match="voxel coordinates"):
        extract_cutouts(ds, as_vox, spec, progress=False)
    ok = extract_cutouts(ds, as_vox.assign(x_nm=as_vox.x_nm * 8, y_nm=as_vox.y_nm * 8, z_nm=as_vox.z_nm * 40),
                         spec, progress=False)
    assert len(ok) == 4
    with pytest.raises(ValueError, match=r"row 0 \(id=1\).*root_id=123.*absent"):
        extract_cutouts(ds, pd.DataFrame([dict(good, root_id=123)]), object_spec((8, 8, 8), (32, 32, 32)),
                        progress=False)
    with pytest.raises(ValueError, match="root_id"):
        extract_cutouts(ds, pd.DataFrame([good]), object_spec((8, 8, 8), (32, 32, 32)), progress=False)


# ---------------------------------------------------------------------------------------------------- cache
def test_cache_resumes_after_interruption_and_is_identical(ds, synapses, tmp_path):
    spec = synapse_cube_spec((16, 16, 16), (16, 16, 16))
    pts = synapses
    n = len(pts)
    reference = extract_cutouts(ds, pts, spec, progress=False)
    cache = CutoutCache(tmp_path / "cache")

    def boom(bi, ids):
        if bi == 1:
            raise RuntimeError("injected failure after 2 batches")

    with pytest.raises(RuntimeError, match="injected"):
        extract_cutouts(ds, pts, spec, cache=cache, progress=False, batch_size=3, on_batch=boom)
    name = dataset_cache_name(ds)
    assert len(cache.store(name, spec)) == 6

    computed = []
    real = engine_mod._compute_batch

    def counting(ctx, rows, row_numbers, table):
        computed.extend(rows["id"].tolist())
        return real(ctx, rows, row_numbers, table)

    engine_mod._compute_batch = counting
    try:
        rerun = extract_cutouts(ds, pts, spec, cache=cache, progress=False, batch_size=3)
        assert rerun.stats == {"computed": n - 6, "from_cache": 6}
        assert len(computed) == n - 6
        np.testing.assert_array_equal(rerun.x, reference.x)
        np.testing.assert_array_equal(rerun.valid, reference.valid)
        np.testing.assert_array_equal(rerun.at_border, reference.at_border)
        computed.clear()
        third = extract_cutouts(ds, pts.iloc[::-1], spec, cache=str(tmp_path / "cache"), progress=False)
        assert computed == [] and third.stats["from_cache"] == n
        np.testing.assert_array_equal(third.x, reference.x[::-1])
    finally:
        engine_mod._compute_batch = real
    # another spec is another key: nothing shared
    other = synapse_cube_spec((16, 16, 16), (8, 8, 8))
    assert cache.path_for(name, other) != cache.path_for(name, spec)
    assert len(cache.store(name, other)) == 0


def test_cli_registers_bench_command():
    import argparse

    from emkit.cutouts.cli import register_cli

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench-cutouts", "--n-points", "50", "--channels", "raw,pre_mask,cleft_mask"])
    assert args.n_points == 50 and callable(args.func)
