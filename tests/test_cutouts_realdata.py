"""emkit.cutouts on real EM (SNEMI3D AC4, 6x6x30 nm, HDF5 through emkit.io): SegCLR object cutouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emkit.cutouts import extract_cutouts, object_spec

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def snemi():
    from emkit.io.datasets import open_dataset
    from emkit.paths import realdata_dir

    if not (realdata_dir() / "snemi3d_ac4_train.h5").exists():
        pytest.skip(f"real data not found in {realdata_dir()} (set EMKIT_REALDATA)")
    return open_dataset("snemi3d")


def test_object_cutouts_on_snemi3d(snemi):
    rng = np.random.default_rng(0)
    seg = snemi.volume("neurons")
    vs = np.asarray(seg.voxel_size_nm, float)
    shape = np.asarray(seg.shape_vox)
    rows = []
    while len(rows) < 12:
        v = rng.integers([40, 40, 10], shape - [40, 40, 10])
        rid = int(seg.read(v, v + 1).ravel()[0])
        if rid:
            rows.append(dict(id=len(rows) + 1, x_nm=(v[0] + 0.5) * vs[0], y_nm=(v[1] + 0.5) * vs[1],
                             z_nm=(v[2] + 0.5) * vs[2], root_id=rid))
    pts = pd.DataFrame(rows)
    spec = object_spec((24, 24, 16), (12, 12, 30), layers={"cells": "neurons"})
    cut = extract_cutouts(snemi, pts, spec, progress=False)  # HDF5: no tensorstore, grouped Volume.read
    naive = extract_cutouts(snemi, pts, spec, progress=False, group_reads=False, batch_size=1)
    np.testing.assert_array_equal(cut.x, naive.x)
    raw, mask, masked = cut.x[:, 0], cut.x[:, 1], cut.x[:, 2]
    assert cut.x.shape == (12, 3, 16, 24, 24) and not cut.at_border.any()
    # the centre of a cube with even size lies between voxels: the object covers some of the 8 central voxels
    assert (mask[:, 7:9, 11:13, 11:13].reshape(12, -1).max(axis=1) == 1).all()
    np.testing.assert_allclose(masked, raw * mask)
    assert 0.2 < raw.mean() < 0.8
