"""emkit.cutouts on the project's synthetic world (emkit.synth, tiny): the presynaptic mask lies on the true
presynaptic object, decided from vesicle-cloud overlap alone; cutouts through the emkit.io Dataset and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from emkit.cutouts import CutoutCache, CutoutSpec, extract_cutouts, synapse_cube_spec
from emkit.io.datasets import open_dataset


@pytest.fixture(scope="module")
def synth():
    ds = open_dataset("synthetic", size="tiny", seed=0)  # generated once per session under $EMKIT_DATA (conftest)
    return ds, ds.points("synapses")


def test_pre_mask_lies_on_the_true_presynaptic_object(synth):
    ds, syn = synth
    syn = syn.iloc[:16].reset_index(drop=True)
    spec = synapse_cube_spec((24, 24, 24), (16, 16, 16))
    # the vesicle rule only: no partner columns
    by_vesicles = extract_cutouts(ds, syn.drop(columns=["pre_root_id", "post_root_id"]), spec, progress=False)
    by_partner = extract_cutouts(ds, syn, spec, progress=False)
    obj = CutoutSpec(shape_vox=(24, 24, 24), voxel_size_nm=(16, 16, 16), channels=("object_mask",))
    true_pre = extract_cutouts(ds, syn.assign(root_id=syn["pre_root_id"]), obj, progress=False).x[:, 0]
    true_post = extract_cutouts(ds, syn.assign(root_id=syn["post_root_id"]), obj, progress=False).x[:, 0]
    for i in range(len(syn)):
        pre = by_vesicles.x[i, 1]
        sid = int(syn["id"].iloc[i])
        assert pre.sum() > 100, f"synapse {sid}: empty presynaptic mask"
        np.testing.assert_array_equal(pre, true_pre[i], err_msg=f"synapse {sid}: pre mask is not the true pre object")
        assert (pre * true_post[i]).sum() == 0
        np.testing.assert_array_equal(by_partner.x[i, 1], true_pre[i])
        cleft = by_partner.x[i, 2]
        assert cleft.sum() > 10, f"synapse {sid}: no cleft in the cube"
        assert set(np.unique(cleft)) <= {0.0, 1.0}
    # the cleft lies between the two partners: it touches the pre object's surroundings
    assert np.all(by_partner.x[:, 0].mean(axis=(1, 2, 3)) > 0.05)  # raw in [0, 1], not empty


def test_synthetic_cache_key_includes_world_params(synth, tmp_path):
    ds, syn = synth
    spec = CutoutSpec(shape_vox=(8, 8, 8), voxel_size_nm=(32, 32, 40), channels=("raw",))
    cache = CutoutCache(tmp_path)
    first = extract_cutouts(ds, syn.iloc[:5], spec, cache=cache, progress=False)
    (sub,) = [p.name for p in tmp_path.iterdir()]
    assert sub.startswith("synthetic-seed0_sizetiny")
    again = extract_cutouts(ds, syn.iloc[:5], spec, cache=cache, progress=False)
    assert again.stats["from_cache"] == 5
    np.testing.assert_array_equal(first.x, again.x)


def test_cubes_centred_on_the_presynaptic_point_sit_in_the_presynaptic_object(synth):
    from emkit.io.points import centred_on

    ds, syn = synth
    syn = centred_on(syn.iloc[:12].reset_index(drop=True), "pre")
    spec = synapse_cube_spec((16, 16, 6), (8, 8, 40), channels=("raw", "pre_mask"))
    assert spec.channels == ("raw", "pre_mask")
    cubes = extract_cutouts(ds, syn, spec, progress=False)
    assert cubes.x.shape == (12, 2, 6, 16, 16)
    centre = cubes.x[:, 1, 3, 7:9, 7:9]  # (N, 2, 2) voxels around the middle of the pre mask
    assert (centre.max(axis=(1, 2)) == 1.0).mean() >= 0.9, "the pre point is not inside the presynaptic object"
    with pytest.raises(ValueError, match="synapse cube channels"):
        synapse_cube_spec((16, 16, 6), (8, 8, 40), channels=("raw", "nucleus_mask"))
