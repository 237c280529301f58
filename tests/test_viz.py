"""Tests of emkit.viz on a tiny in-memory volume."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from emkit import viz  # noqa: E402
from emkit.io.volumes import ArrayVolume  # noqa: E402


class _OneLayer:
    """The part of emkit.io.datasets.Dataset that viz uses: volume(layer)."""

    def __init__(self, volume):
        self._volume = volume

    def volume(self, layer, mip=0):
        return self._volume


def test_neighbour_gallery_shows_each_point_and_marks_same_class_neighbours():
    # intensity = x voxel index, so each tile's mean tells which point it shows
    array = np.broadcast_to(np.arange(100, dtype=np.float32), (4, 20, 100)).copy()
    world = _OneLayer(ArrayVolume(array, (10.0, 10.0, 10.0)))
    points = pd.DataFrame({"x_nm": [100.0, 300.0, 500.0, 700.0], "y_nm": 100.0, "z_nm": 20.0,
                           "label": ["a", "a", "b", "b"]})
    fig = viz.neighbour_gallery(world, points, queries=[0, 2], neighbours=np.array([[1, 2], [3, 0]]),
                                size_nm=(60.0, 60.0))
    assert fig.emkit_same_class.tolist() == [[True, False], [True, False]]
    axes = np.array(fig.axes).reshape(2, 3)
    shown = [[float(ax.images[0].get_array().mean()) for ax in row] for row in axes]
    assert np.allclose(shown, [[10, 30, 50], [50, 70, 10]], atol=0.6)  # x = 100 nm -> voxel 10, ...
    assert axes[0, 0].get_title() == "query: a" and axes[0, 2].get_title() == "b"
    assert "50%" in fig._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(Q, k\)"):
        viz.neighbour_gallery(world, points, queries=[0, 2], neighbours=np.array([[1, 2]]))
