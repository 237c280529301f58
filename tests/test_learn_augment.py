import pytest
import torch

from emkit.learn.augment import AugmentConfig, EMAugment, centre_crop

C = 5.0  # raw = mask * C lets us check alignment after geometric transforms


def _batch(n=6, shape=(8, 16, 16), seed=0):
    g = torch.Generator().manual_seed(seed)
    m1 = (torch.rand(n, 1, *shape, generator=g) > 0.6).float()
    m2 = (torch.rand(n, 1, *shape, generator=g) > 0.8).float()
    return torch.cat([m1 * C, m1, m2], dim=1)


def _geo(**kw):
    base = dict(p_intensity=0.0, p_noise=0.0, p_missing_section=0.0, p_section_shift=0.0, flip=False,
                rot90_xy=False, p_crop=0.0, crop_scale=(1.0, 1.0))
    base.update(kw)
    return EMAugment(AugmentConfig.from_dict(base))


GEOMETRIC = {
    "flip": dict(flip=True),
    "rot90_xy": dict(rot90_xy=True),
    "isotropic_rot": dict(isotropic=True),
    "crop_rescale": dict(p_crop=1.0, crop_scale=(0.5, 0.9), interpolation="nearest"),
    "jitter": dict(jitter_vox=(3, 3, 1), interpolation="nearest"),
    "out_shape": dict(out_shape_vox=(6, 12, 12), p_crop=1.0, crop_scale=(0.7, 1.2), interpolation="nearest"),
    "section_shift": dict(p_section_shift=1.0, max_shift_vox=3),
}


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
def test_masks_follow_raw_under_geometric_transforms(name):
    shape = (16, 16, 16) if name == "isotropic_rot" else (8, 16, 16)
    x = _batch(shape=shape)
    y = _geo(**GEOMETRIC[name])(x, torch.Generator().manual_seed(3))
    assert torch.equal(y[:, 0], y[:, 1] * C), name  # raw and its mask moved identically
    assert set(y[:, 1:].unique().tolist()) <= {0.0, 1.0}  # masks stay binary
    assert not torch.equal(y, x) or name == "none"  # the transform did something


def test_geometric_transforms_permute_voxels():
    x = _batch()
    y = _geo(flip=True, rot90_xy=True)(x, torch.Generator().manual_seed(0))
    # flips/rotations are permutations of voxels: per-sample sums are preserved exactly
    assert torch.equal(x.sum(dim=(2, 3, 4)), y.sum(dim=(2, 3, 4)))
    # per-sample parameters: not every sample got the same transform
    same = [torch.equal(x[i], y[i]) for i in range(len(x))]
    assert not all(same)


def test_trilinear_crop_keeps_masks_binary_and_roughly_aligned():
    x = _batch(shape=(8, 32, 32))
    y = _geo(p_crop=1.0, crop_scale=(0.6, 0.8), jitter_vox=(2, 2, 1))(x, torch.Generator().manual_seed(1))
    assert set(y[:, 1:].unique().tolist()) <= {0.0, 1.0}
    agree = ((y[:, 0] > C / 2) == (y[:, 1] > 0.5)).float().mean()
    assert agree > 0.8


def test_intensity_and_missing_section_touch_raw_only():
    x = _batch()
    x[:, 0] = torch.randn_like(x[:, 0])
    aug = EMAugment(dict(preset="none", p_intensity=1.0, p_noise=1.0, noise_std=0.5, p_missing_section=1.0,
                         max_missing_sections=2, missing_fill=-7.0))
    y = aug(x, torch.Generator().manual_seed(0))
    assert torch.equal(y[:, 1:], x[:, 1:])  # masks untouched
    assert not torch.allclose(y[:, 0], x[:, 0])
    # every sample has 1-2 whole z sections at the fill value
    for i in range(len(x)):
        filled = (y[i, 0] == -7.0).all(dim=(1, 2)).sum().item()
        assert 1 <= filled <= 2


def test_section_shift_moves_a_slab():
    x = torch.zeros(1, 2, 6, 16, 16)
    x[:, :, :, 6:10, 6:10] = 1.0
    y = _geo(p_section_shift=1.0, max_shift_vox=3)(x, torch.Generator().manual_seed(5))
    moved = [not torch.equal(y[0, 1, z], x[0, 1, z]) for z in range(6)]
    assert not moved[0] and any(moved)  # section 0 never moves; a slab after it does


def test_seeded_and_device_independent_params():
    x = _batch()
    aug = EMAugment("segclr")
    a = aug(x, torch.Generator().manual_seed(42))
    b = aug(x, torch.Generator().manual_seed(42))
    c = aug(x, torch.Generator().manual_seed(43))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape


def test_rotation_needs_square_xy_and_bad_options():
    with pytest.raises(ValueError, match="equal sizes"):
        _geo(rot90_xy=True)(torch.zeros(2, 1, 4, 8, 6), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="unknown augmentation option"):
        AugmentConfig.from_dict({"flipz": True})
    with pytest.raises(ValueError, match="preset"):
        EMAugment("nope")


def test_jitter_crop_views_are_whole_sub_blocks_of_the_cube():
    from emkit.learn.augment import jitter_crop

    opts = jitter_crop((8, 6, 4), (4, 4, 2))  # (x, y, z)
    assert opts == {"out_shape_vox": (2, 4, 4), "jitter_vox": (2, 1, 1)}
    x = torch.arange(40 * 4 * 6 * 8, dtype=torch.float32).reshape(40, 1, 4, 6, 8)  # (N, C, z, y, x)
    aug = EMAugment({"preset": "none", "interpolation": "nearest", **opts})
    views = aug(x, torch.Generator().manual_seed(0))
    assert views.shape == (40, 1, 2, 4, 4)
    offsets = set()
    for i in range(len(x)):
        hits = [(z, y, xx) for z in range(3) for y in range(3) for xx in range(5)
                if torch.equal(views[i, 0], x[i, 0, z:z + 2, y:y + 4, xx:xx + 4])]
        assert len(hits) == 1, f"view {i} is not a sub-block of its cube"
        offsets.add(hits[0])
    assert len(offsets) > 5  # the offset varies between samples
    with pytest.raises(ValueError, match="does not fit"):
        jitter_crop((8, 6, 4), (10, 4, 2))


def test_whole_voxel_windows_are_copied_exactly_as_resampling_would_give(monkeypatch):
    from emkit.learn.augment import jitter_crop

    g = torch.Generator().manual_seed(3)
    x = torch.rand(16, 2, 8, 12, 12, generator=g)  # raw + a mask channel
    x[:, 1] = (x[:, 1] > 0.5).float()
    opts = {"preset": "simclr_em", "p_crop": 0.0, "p_intensity": 0.0, "raw_channels": (0,),
            **jitter_crop((12, 12, 8), (8, 8, 6))}
    fast = EMAugment(opts)(x, torch.Generator().manual_seed(0))
    monkeypatch.setattr(EMAugment, "_whole_voxel_windows", staticmethod(lambda *a: None))  # force grid_sample
    resampled = EMAugment(opts)(x, torch.Generator().manual_seed(0))
    assert fast.shape == resampled.shape == (16, 2, 6, 8, 8)
    assert torch.allclose(fast, resampled, atol=1e-5)


def test_half_voxel_windows_are_interpolated():
    # an odd slack (7 -> 4 voxels along x) centres the view between voxels: no whole-voxel copy is possible
    x = torch.arange(7, dtype=torch.float32).reshape(1, 1, 1, 1, 7).expand(2, 1, 2, 2, 7).contiguous()
    aug = EMAugment({"preset": "none", "out_shape_vox": (2, 2, 4)})
    assert EMAugment._whole_voxel_windows(torch.ones(2, dtype=torch.float64),
                                          [torch.full((2, 4), 1.5, dtype=torch.float64)] * 3,
                                          torch.tensor([7.0, 2.0, 2.0], dtype=torch.float64)) is None
    view = aug(x, torch.Generator().manual_seed(0))
    assert torch.allclose(view[0, 0, 0, 0], torch.tensor([1.5, 2.5, 3.5, 4.5]))


def test_centre_crop_takes_the_middle_block_of_arrays_and_tensors():
    import numpy as np

    x = np.arange(2 * 8 * 10 * 12).reshape(2, 8, 10, 12)  # (C, D, H, W)
    c = centre_crop(x, (6, 4, 2))  # (x, y, z)
    assert c.shape == (2, 2, 4, 6)
    assert np.array_equal(c, x[:, 3:5, 3:7, 3:9])
    t = centre_crop(torch.from_numpy(x), (12, 10, 8))
    assert torch.equal(t, torch.from_numpy(x))
    with pytest.raises(ValueError, match="does not fit"):
        centre_crop(x, (13, 4, 2))
