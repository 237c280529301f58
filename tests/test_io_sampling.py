"""Points drawn inside the objects of a segmentation."""

import numpy as np
import pytest

from emkit.io.sampling import sample_object_points
from emkit.io.volumes import ArrayVolume


def _segmentation():
    seg = np.zeros((10, 40, 60), dtype=np.uint32)  # (z, y, x)
    seg[:, :, :30] = 7  # big object
    seg[:, :20, 30:] = 9  # medium object
    seg[:, 20:, 30:] = 0  # background
    seg[:, 25:28, 40:43] = 11  # tiny object
    return seg


def test_points_lie_inside_their_objects_and_away_from_border():
    seg = _segmentation()
    vol = ArrayVolume(seg, voxel_size_nm=(6, 6, 30), layer_type="segmentation")
    pts = sample_object_points(vol, n_objects=2, per_object=15, margin_vox=(4, 4, 2), min_voxels=20,
                               stride_vox=(1, 1, 1), seed=3)
    assert list(pts.columns) == ["id", "x_nm", "y_nm", "z_nm", "root_id"]
    assert sorted(pts["root_id"].unique()) == [7, 9]
    assert (pts.groupby("root_id").size() == 15).all()
    vox = np.floor(pts[["x_nm", "y_nm", "z_nm"]].to_numpy() / np.array([6, 6, 30])).astype(int)
    assert (seg[vox[:, 2], vox[:, 1], vox[:, 0]] == pts["root_id"].to_numpy()).all()
    assert vox[:, 0].min() >= 4 and vox[:, 0].max() < 56 and vox[:, 2].min() >= 2 and vox[:, 2].max() < 8
    again = sample_object_points(vol, n_objects=2, per_object=15, margin_vox=(4, 4, 2), min_voxels=20,
                                 stride_vox=(1, 1, 1), seed=3)
    assert again.equals(pts)


def test_largest_objects_first_and_errors():
    vol = ArrayVolume(_segmentation(), voxel_size_nm=(6, 6, 30), layer_type="segmentation")
    pts = sample_object_points(vol, n_objects=1, per_object=5, margin_vox=(0, 0, 0), min_voxels=1)
    assert set(pts["root_id"]) == {7}
    with pytest.raises(ValueError, match="leaves nothing"):
        sample_object_points(vol, margin_vox=(40, 0, 0))
    with pytest.raises(ValueError, match="no object"):
        sample_object_points(vol, min_voxels=10**9)
