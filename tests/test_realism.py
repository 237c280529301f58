"""Tests of emkit.synth.realism: image statistics for comparing synthetic and real EM."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import ndimage  # noqa: E402

from emkit.synth import realism as R  # noqa: E402


def _noise(shape, seed=0, std=20.0, mean=128.0):
    return np.random.default_rng(seed).normal(mean, std, size=shape)


# ---------------------------------------------------------------------------------------------------- spectra
def test_white_noise_spectrum_is_flat_at_parseval_level():
    p, s = 8.0, 20.0
    vol = _noise((16, 256, 256), std=s)
    edges = R.common_frequency_edges([256 * p], p, n_bins=16)
    f, pw = R.radial_power_spectrum(vol, p, freq_edges_per_nm=edges, progress=False)
    assert f.shape == pw.shape == (16,)
    assert np.all(np.isfinite(pw))
    expected = s**2 * p**2  # flat PSD of white noise, grey²·nm²
    assert np.median(pw) == pytest.approx(expected, rel=0.05)
    # the lowest annuli hold few Fourier samples (relative std ~12 % with 16 slices), the rest ~1-5 %
    assert np.all(np.abs(pw[:4] / expected - 1) < 0.4), pw / expected
    assert np.all(np.abs(pw[4:] / expected - 1) < 0.15), pw / expected
    assert abs(R.spectrum_summary(f, pw, slope_band_nm=(1000, 20))["psd_slope"]) < 0.1


def test_blurred_image_spectrum_falls_off():
    p = 8.0
    vol = ndimage.gaussian_filter(_noise((4, 256, 256)), sigma=(0, 3, 3))
    f, pw = R.radial_power_spectrum(vol, p, progress=False)
    low, high = np.nanmean(pw[1:6]), np.nanmean(pw[-10:])
    assert high < 1e-4 * low
    lf = R.radial_power_spectrum(_noise((4, 256, 256)), p, progress=False)[1]
    # blurring removes power at high frequency only: the low end stays within a factor ~2 of the noise
    assert np.nanmean(lf[-10:]) > 1e3 * high


@pytest.mark.parametrize("pixel_nm", [8.0, 5.0])
@pytest.mark.parametrize("direction", ["x", "diagonal"])
def test_sinusoid_peaks_at_its_frequency_in_cycles_per_nm(pixel_nm, direction):
    period_nm, n = 80.0, 320
    coords = np.arange(n) * pixel_nm
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    if direction == "x":
        phase = xx
    else:  # wave vector along the diagonal: spatial frequency still 1/period_nm
        phase = (xx + yy) / np.sqrt(2)
    img = 128 + 50 * np.sin(2 * np.pi * phase / period_nm)
    f, pw = R.radial_power_spectrum(img, pixel_nm, progress=False)
    df = 1.0 / (n * pixel_nm)
    assert abs(f[np.nanargmax(pw)] - 1 / period_nm) <= df
    # same physical peak after resampling the 5 nm image to 8 nm pixels
    f8, pw8 = R.radial_power_spectrum(img, pixel_nm, target_pixel_nm=8.0, progress=False)
    assert abs(f8[np.nanargmax(pw8)] - 1 / period_nm) <= 1.0 / (n * pixel_nm / 8.0 * 8.0) + 1e-12


def test_spectrum_rejects_tiny_and_nonsquare_input():
    with pytest.raises(ValueError, match="too small"):
        R.radial_power_spectrum(np.zeros((4, 4)), 8.0)
    with pytest.raises(ValueError, match="square pixels"):
        R.radial_power_spectrum(np.zeros((32, 32)), (4.0, 8.0, 40.0))


# ---------------------------------------------------------------------------------------------------- intensities
def test_histogram_sums_to_one_and_stats():
    vol = np.random.default_rng(1).integers(0, 256, size=(3, 40, 50), dtype=np.uint8)
    h, e = R.intensity_histogram(vol)
    assert h.shape == (256,) and e.shape == (257,)
    assert h.sum() == pytest.approx(1.0)
    const = np.full((2, 8, 8), 100, np.uint8)
    hc, _ = R.intensity_histogram(const)
    assert hc[100] == 1.0
    st = R.intensity_stats(vol)
    assert st["mean"] == pytest.approx(vol.mean())
    assert st["p50"] == pytest.approx(np.median(vol))
    assert abs(st["skew"]) < 0.1  # uniform is symmetric


def test_resample_xy_shapes_and_mean():
    vol = _noise((2, 120, 90), std=5)
    r = R.resample_xy(vol, (6.0, 6.0, 30.0), 8.0)
    assert r.shape == (2, 90, 68)
    assert r.mean() == pytest.approx(vol.mean(), abs=0.5)
    assert R.resample_xy(vol, 8.0, 8.0).shape == vol.shape


# ---------------------------------------------------------------------------------------------------- texture
def test_gradient_magnitude_is_per_nm():
    slope = 0.5  # grey levels per nm
    for p in (4.0, 8.0):
        x_nm = np.arange(64) * p
        img = np.tile(slope * x_nm, (64, 1))
        g = R.gradient_magnitude(img, p)
        assert g.shape == (1, 64, 64)
        np.testing.assert_allclose(g[0, 2:-2, 2:-2], slope, rtol=1e-5)


def test_autocorrelation_length_of_blurred_noise():
    # white noise blurred by a Gaussian of sigma s has a Gaussian ACF exp(-r²/4s²): 1/e at r = 2s
    p, s_px = 8.0, 5.0
    vol = ndimage.gaussian_filter(_noise((4, 256, 256)), sigma=(0, s_px, s_px))
    assert R.autocorrelation_length(vol, p) == pytest.approx(2 * s_px * p, rel=0.1)
    assert R.autocorrelation_length(_noise((2, 128, 128)), p) < p  # white noise: decorrelated within a pixel


def test_glcm_constant_and_checkerboard():
    const = np.full((1, 32, 32), 77.0)
    g = R.glcm_features(const, 8.0)
    assert g["glcm_contrast"] == 0.0 and g["glcm_homogeneity"] == pytest.approx(1.0)
    yy, xx = np.indices((32, 32))
    board = np.where((yy + xx) % 2 == 0, 0.0, 255.0)[None]
    g = R.glcm_features(board, 8.0, distance_nm=8.0, levels=32)
    # 0° and 90° neighbours differ by 31 levels, 45° and 135° neighbours are equal
    assert g["glcm_contrast"] == pytest.approx(31**2 / 2)
    assert g["glcm_homogeneity"] == pytest.approx(0.5 + 0.5 / (1 + 31**2))


def test_membrane_fraction_sees_thin_lines_not_blobs():
    p, n = 8.0, 256
    rng = np.random.default_rng(2)
    yy, xx = np.indices((n, n))
    lines = ((yy % 32) < 2) | ((xx % 32) < 2)  # 16 nm wide membranes on a 256 nm grid
    img_lines = np.where(lines, 60.0, 180.0) + rng.normal(0, 5, (n, n))
    true_frac = lines.mean()
    fl = R.membrane_fraction(img_lines, p)
    assert 0.8 * true_frac < fl < 1.6 * true_frac
    # big dark discs (radius 80 nm) covering a similar area: dark, but not membrane-like
    blobs = np.zeros((n, n), bool)
    for cy, cx in [(40, 40), (40, 200), (200, 40), (200, 200), (128, 128)]:
        blobs |= (yy - cy) ** 2 + (xx - cx) ** 2 < 10**2
    img_blobs = np.where(blobs, 60.0, 180.0) + rng.normal(0, 5, (n, n))
    assert R.dark_fraction(img_blobs, 100) == pytest.approx(blobs.mean(), abs=0.01)
    assert R.membrane_fraction(img_blobs, p) < 0.3 * fl
    mc = R.membrane_contrast(img_lines, p)
    assert mc["membrane_frac"] == pytest.approx(fl)
    assert mc["membrane_grey_p50"] < 100 and mc["background_grey_p50"] == pytest.approx(180, abs=3)


def test_membrane_width_of_rings():
    # concentric rings 3 px (24 nm) thick, every 16 px: isotropic orientations, so the π/4 correction is unbiased
    p, n = 8.0, 256
    yy, xx = np.indices((n, n))
    r = np.hypot(yy - n / 2, xx - n / 2)
    rings = (r % 16 < 3) & (r > 10)
    img = np.where(rings, 60.0, 180.0) + np.random.default_rng(5).normal(0, 3, (n, n))
    mc = R.membrane_contrast(img, p)
    assert mc["membrane_width_nm"] == pytest.approx(24.0, rel=0.2)


def test_profile_diameters():
    lab = np.zeros((2, 100, 100), np.uint32)
    yy, xx = np.indices((100, 100))
    lab[0][(yy - 50) ** 2 + (xx - 50) ** 2 < 20**2] = 7  # disc of radius 20 px
    lab[1, :10, :10] = 3  # 10x10 square
    lab[1, 50:60, 50:60] = 3  # a second, disconnected piece of the same label is a second profile
    d = np.sort(R.profile_diameters_nm(lab, 4.0))
    assert d.shape == (3,)
    assert d[1] == d[0]
    assert d[0] == pytest.approx(2 * np.sqrt(100 * 16 / np.pi))
    assert d[2] == pytest.approx(2 * 20 * 4.0, rel=0.02)


def test_noise_sd_estimate_ignores_smooth_structure():
    yy, xx = np.indices((128, 128))
    smooth = 100 + 0.3 * xx + 0.2 * yy + 20 * np.sin(2 * np.pi * xx / 64)
    noisy = smooth + np.random.default_rng(4).normal(0, 10, (2, 128, 128))
    assert R.noise_sd_estimate(noisy) == pytest.approx(10, rel=0.1)
    assert R.noise_sd_estimate(smooth) < 0.5


def test_local_contrast_and_adjacent_slices():
    img = np.tile(np.where(np.arange(64) % 2 == 0, 100.0, 200.0), (64, 1))  # std 50 in every window
    lc = R.local_contrast(img, 8.0, window_nm=64.0)
    np.testing.assert_allclose(lc, 50.0, atol=1e-3)
    same = np.repeat(_noise((1, 32, 32)), 3, axis=0)
    assert R.adjacent_slice_correlation(same) == pytest.approx(1.0)
    assert abs(R.adjacent_slice_correlation(_noise((4, 64, 64)))) < 0.05


# ---------------------------------------------------------------------------------------------------- comparison
def _smooth_world(seed=3, n=256):
    """A smooth random scene at 4 nm and the same scene block-averaged to 8 nm (uint8-like scale)."""
    v4 = ndimage.gaussian_filter(_noise((3, n, n), seed=seed, std=60), sigma=(0, 4, 4))
    v4 = 128 + (v4 - v4.mean()) * (40 / v4.std())
    v8 = v4.reshape(3, n // 2, 2, n // 2, 2).mean(axis=(2, 4))
    return v4, v8


def test_compare_volumes_self_is_zero_and_distances_mean_something():
    vol = np.clip(_smooth_world()[1], 0, 255)
    df = R.compare_volumes(
        {"ref": (vol, (8, 8, 40)), "copy": (vol.copy(), (8, 8, 40)), "brighter": (vol + 20, (8, 8, 40)),
         "flat": (128 + (vol - 128) * 0.5, (8, 8, 40))},
        progress=False,
    )
    assert list(df.index) == ["ref", "copy", "brighter", "flat"]
    dist = ["hist_wasserstein", "hist_wasserstein_z", "log_psd_rms", "log_psd_shape_rms"]
    assert np.all(df.loc[["ref", "copy"], dist].to_numpy() == pytest.approx(0.0, abs=1e-9))
    assert df.loc["brighter", "hist_wasserstein"] == pytest.approx(20.0, abs=0.5)
    assert df.loc["brighter", "hist_wasserstein_z"] < 0.02
    assert df.loc["brighter", "log_psd_rms"] == pytest.approx(0.0, abs=1e-6)  # spectra ignore the mean
    assert df.loc["flat", "log_psd_rms"] == pytest.approx(np.log10(4), abs=1e-3)  # half contrast: 1/4 power
    assert df.loc["flat", "log_psd_shape_rms"] == pytest.approx(0.0, abs=1e-6)
    assert df.loc["flat", "std"] == pytest.approx(0.5 * df.loc["ref", "std"], rel=1e-3)
    assert np.isfinite(df.select_dtypes("number").to_numpy()).all()


def test_compare_volumes_is_pixel_size_invariant():
    v4, v8 = _smooth_world()
    df = R.compare_volumes({"at8": (v8, 8.0), "at4": (v4, 4.0)}, progress=False)
    assert df.loc["at4", "log_psd_shape_rms"] < 0.1
    assert df.loc["at4", "acf_length_nm"] == pytest.approx(df.loc["at8", "acf_length_nm"], rel=0.1)
    assert df.loc["at4", "fov_x_nm"] == df.loc["at8", "fov_x_nm"] == 1024.0
    with pytest.raises(ValueError, match="reference 'nope'"):
        R.compare_volumes({"a": (v8, 8.0)}, reference="nope", progress=False)
    with pytest.raises(ValueError, match=r"named_volumes\['bad'\]"):
        R.compare_volumes({"bad": v8}, progress=False)


def test_plot_realism_makes_a_figure(tmp_path):
    v4, v8 = _smooth_world(n=128)
    fig = R.plot_realism({"a": (v8, 8.0), "b": (v4, 4.0)}, fov_nm=800.0)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2
    assert images[0].images[0].get_array().shape == (64, 64)  # 512 nm at 8 nm; smaller than the 800 nm field
    out = tmp_path / "realism.png"
    fig.savefig(out, dpi=50)
    assert out.stat().st_size > 5000
    matplotlib.pyplot.close(fig)


# ---------------------------------------------------------------------------------------------------- real data
REAL = {
    # name: (file, dataset, voxel size (x, y, z) nm)
    "snemi3d": ("snemi3d_ac4_train.h5", "raw", (6.0, 6.0, 30.0)),
    "vnc": ("drosophila_vnc_sstem.h5", "stack1/raw", (4.6, 4.6, 50.0)),
    # voxel size of the gala sample is undocumented; 10 nm isotropic FIB-SEM is an assumption
    "gala_fib": ("gala_fib_small.h5", "train/raw", (10.0, 10.0, 10.0)),
}


@pytest.mark.realdata
def test_real_volumes_look_alike_and_unlike_noise():
    from emkit.paths import realdata_dir

    root = realdata_dir()
    if not root.is_dir():
        pytest.skip(f"real EM samples not found at {root}")
    vols = {}
    for name, (fname, key, vs) in REAL.items():
        with h5py.File(root / fname, "r") as h:
            vols[name] = (h[key][:8, :256, :256], vs)
    rng = np.random.default_rng(0)
    vols["white_noise"] = (np.clip(rng.normal(128, 45, (8, 256, 256)), 0, 255).astype(np.uint8), 8.0)
    df = R.compare_volumes(vols, reference="snemi3d", progress=False)
    real = df.loc[list(REAL)]
    assert np.isfinite(real.select_dtypes("number").to_numpy()).all()
    # what EM looks like at 8 nm: mid-grey, dark membranes, steep spectrum, correlated over tens of nm
    assert real["mean"].between(100, 180).all()
    assert real["psd_slope"].between(-4.5, -2.0).all()
    assert real["acf_length_nm"].between(20, 100).all()
    assert real["membrane_frac"].between(0.05, 0.4).all()
    # real volumes resemble each other more than they resemble white noise of the same mean and contrast
    assert df.loc["white_noise", "log_psd_shape_rms"] > 2 * real["log_psd_shape_rms"].max()
    assert df.loc["white_noise", "psd_slope"] > -0.5
