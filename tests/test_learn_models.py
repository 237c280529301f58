import pytest
import torch

from emkit.learn.models import MLPClassifier, ProjectionHead, anisotropic_strides, build_encoder


@pytest.mark.parametrize("name,dim", [("slim", 64), ("resnet10", 512), ("resnet18", 512)])
def test_encoder_shapes_any_channels(name, dim):
    torch.manual_seed(0)
    kw = {} if name == "slim" else {"width_mult": 0.125}
    enc = build_encoder(name, in_channels=3, **kw)
    x = torch.randn(2, 3, 16, 16, 16)
    e = enc(x)
    assert e.shape == (2, enc.embed_dim)
    assert enc.embed_dim == (dim if name == "slim" else 64)


def test_resnet_depths_and_bottleneck_param_counts():
    # widths 1/8 of the standard ones keeps this fast; depth ordering must hold
    n = {k: sum(p.numel() for p in build_encoder(k, 1, width_mult=0.125).parameters())
         for k in ("resnet18", "resnet34", "resnet50")}
    assert n["resnet18"] < n["resnet34"]
    assert build_encoder("resnet50", 1, width_mult=0.125).embed_dim == 64 * 4 // 1  # 512/8 * 4 expansion


def test_full_resnet18_is_33m_params_like_monai():
    enc = build_encoder("resnet18", 1)
    n = sum(p.numel() for p in enc.parameters())
    assert 33.0e6 < n < 33.4e6  # ecosystem notes: monai 3D ResNet-18 ~33M


def test_anisotropic_stem_keeps_z():
    s = anisotropic_strides(5.0, 5)
    assert [t[0] for t in s] == [1, 1, 2, 2, 2]
    assert all(t[1:] == (2, 2) for t in s)
    assert [t[0] for t in anisotropic_strides(1.0, 5)] == [2] * 5
    enc = build_encoder("slim", 1, voxel_size_nm=(8, 8, 40), stem="imagenet").eval()
    assert enc.stem[0].kernel_size == (3, 7, 7) and enc.stem[0].stride == (1, 2, 2)
    feat = enc.forward_features(torch.randn(1, 1, 16, 64, 64))
    # xy /32, z /8 (3 of 5 steps downsample z)
    assert feat.shape[2:] == (2, 2, 2)
    iso = build_encoder("slim", 1, stem="imagenet").eval()
    assert iso.stem[0].kernel_size == (7, 7, 7)
    assert iso.forward_features(torch.randn(1, 1, 32, 32, 32)).shape[2:] == (1, 1, 1)


def test_small_stem_keeps_resolution_for_small_cutouts():
    enc = build_encoder("slim", 3, voxel_size_nm=(8, 8, 40), stem="small").eval()
    assert enc.stem_kind == "small" and enc.stem[0].stride == (1, 1, 1)
    assert isinstance(enc.pool, torch.nn.Identity)
    # three downsampling stages: xy /8; z kept until xy voxels catch up with the 5x larger z voxels
    assert enc.forward_features(torch.randn(2, 3, 12, 48, 48)).shape[2:] == (6, 6, 6)
    assert build_encoder("resnet18", 1).stem_kind == "imagenet" and build_encoder("slim", 1).stem_kind == "imagenet"
    with pytest.raises(ValueError, match="stem"):
        build_encoder("slim", 1, stem="tiny")


def test_custom_widths_blocks_and_bad_input():
    enc = build_encoder("slim", 2, widths=(4, 8, 16), blocks=(1, 2, 1))
    assert enc.embed_dim == 16 and len(enc.stages) == 3 and len(enc.stages[1]) == 2
    with pytest.raises(ValueError, match=r"\(N, 2, D, H, W\)"):
        enc(torch.randn(1, 3, 8, 8, 8))
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("vgg")


def test_heads():
    h = ProjectionHead(64, 32, 16)
    assert h(torch.randn(4, 64)).shape == (4, 16)
    clf = MLPClassifier(64, 5, hidden=(32,))
    p = clf.predict_proba(torch.randn(3, 64))
    assert p.shape == (3, 5) and torch.allclose(p.sum(1), torch.ones(3))
    assert clf.training  # predict_proba restores the mode


def test_mlp_classifier_fits_embedding_blobs():
    import numpy as np

    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(3, 16))
    y = np.repeat([0, 1, 2], [60, 30, 10])  # unbalanced, like cell-type tables
    x = centers[y] + rng.normal(size=(100, 16))
    clf = MLPClassifier(16, 3, hidden=(32,))
    losses = clf.fit(x[::2], y[::2], epochs=25, batch_size=16, lr=3e-3, class_weight="balanced", seed=1)
    assert losses[-1] < losses[0]
    assert (clf.predict(x[1::2]) == y[1::2]).mean() > 0.9
    again = MLPClassifier(16, 3, hidden=(32,))
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="row 0: label 7"):
        again.fit(x[:2], np.array([7, 0]))
