"""Tests of emkit.synth: formats (cloud-volume and tensorstore agree), tables vs volumes, determinism, signal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from emkit.synth import ensure_world, generate_world

LAYERS = ("em", "cells", "nuclei", "mitochondria", "vesicles", "clefts")


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "tiny"
    generate_world(root, "tiny", seed=0, progress=False)
    return root


@pytest.fixture(scope="session")
def vols(world):
    from cloudvolume import CloudVolume

    return {n: CloudVolume(f"file://{world / n}", mip=0, progress=False, fill_missing=False)[:, :, :][..., 0]
            for n in LAYERS}


def _ts_read(path: Path, mip: int):
    import tensorstore as ts

    spec = {"driver": "neuroglancer_precomputed", "kvstore": f"file://{path}", "scale_index": mip,
            "fill_missing_data_reads": False}
    return ts.open(spec, read=True).result()[...].read().result()[..., 0]  # (x, y, z)


def test_folder_layout(world):
    for name in LAYERS + ("synapses.parquet", "cells.parquet", "mitochondria.parquet", "truth.json", "COMPLETE"):
        assert (world / name).exists(), name
    truth = json.loads((world / "truth.json").read_text())
    assert truth["params"]["seed"] == 0 and truth["params"]["voxel_size_nm"] == [8, 8, 40]
    assert (world / "COMPLETE").read_text().strip() == truth["fingerprint"]
    assert not list(world.glob("**/*.gz")), "chunks must be written with compress=False"


@pytest.mark.parametrize("name", LAYERS)
def test_cloudvolume_and_tensorstore_agree_at_every_mip(world, name):
    from cloudvolume import CloudVolume

    info = json.loads((world / name / "info").read_text())
    assert len(info["scales"]) == 3
    assert info["scales"][0]["resolution"] == [8, 8, 40]
    assert info["scales"][1]["resolution"] == [16, 16, 40]
    assert info["scales"][2]["resolution"] == [32, 32, 40]
    assert info["data_type"] == ("uint8" if name == "em" else "uint64")
    enc = "raw" if name == "em" else "compressed_segmentation"
    assert all(s["encoding"] == enc for s in info["scales"])
    shapes = []
    for mip in range(3):
        a = CloudVolume(f"file://{world / name}", mip=mip, progress=False, fill_missing=False)[:, :, :][..., 0]
        b = _ts_read(world / name, mip)
        assert a.shape == b.shape
        assert np.array_equal(np.asarray(a), np.asarray(b)), f"{name} mip {mip}: readers disagree"
        shapes.append(a.shape)
        if name in ("em", "cells"):
            assert np.asarray(b).any(), f"{name} mip {mip} is all zeros"
    assert shapes[1] == (shapes[0][0] // 2, shapes[0][1] // 2, shapes[0][2])
    assert shapes[2] == (shapes[0][0] // 4, shapes[0][1] // 4, shapes[0][2])


def test_mips_are_downsampled_versions(world, vols):
    from cloudvolume import CloudVolume

    em0 = vols["em"].astype(float)
    em1 = CloudVolume(f"file://{world / 'em'}", mip=1, progress=False)[:, :, :][..., 0].astype(float)
    mean = em0.reshape(em0.shape[0] // 2, 2, em0.shape[1] // 2, 2, -1).mean((1, 3))
    assert np.abs(mean - em1).max() <= 1.0
    c0 = vols["cells"]
    c1 = CloudVolume(f"file://{world / 'cells'}", mip=1, progress=False)[:, :, :][..., 0]
    children = np.stack([c0[::2, ::2], c0[1::2, ::2], c0[::2, 1::2], c0[1::2, 1::2]])
    assert (children == c1[None]).any(0).all(), "a mip-1 label must be one of its 2x2 children"


def test_em_looks_like_em(vols):
    em = vols["em"]
    assert em.dtype == np.uint8
    live = em[..., em.reshape(-1, em.shape[2]).std(0) > 0]
    assert 90 < live.mean() < 170 and 20 < live.std() < 60
    # membranes are darker than the inside of cells
    cells = vols["cells"]
    edge = np.zeros(cells.shape, bool)
    edge[1:] |= cells[1:] != cells[:-1]
    edge[:, 1:] |= cells[:, 1:] != cells[:, :-1]
    assert em[edge].mean() < em[~edge].mean() - 15


def test_synapse_table_consistent_with_volumes(world, vols):
    syn = pd.read_parquet(world / "synapses.parquet")
    need = ["id", "pre_pt_root_id", "post_pt_root_id", "pre_pt_position", "ctr_pt_position", "post_pt_position",
            "size", "neurotransmitter", "neuron_id", "hemilineage", "region"]
    assert set(need) <= set(syn.columns)
    assert len(syn) >= 60 and syn["id"].is_unique
    assert syn["neurotransmitter"].nunique() >= 3
    assert set(syn["neurotransmitter"]) <= {"gaba", "acetylcholine", "glutamate", "serotonin", "octopamine",
                                           "dopamine"}
    # the transmitter is a property of the presynaptic neuron
    assert (syn.groupby("neuron_id")["neurotransmitter"].nunique() == 1).all()
    clefts, cells = vols["clefts"], vols["cells"]
    shp = np.array(clefts.shape)
    boxes = ndimage.find_objects(clefts.astype(np.int64))
    bad = []
    for row in syn.itertuples():
        x, y, z = np.asarray(row.ctr_pt_position, int)
        lo = np.maximum([x - 2, y - 2, z - 1], 0)
        hi = np.minimum([x + 3, y + 3, z + 2], shp)
        near = clefts[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        if not (near == row.id).any():
            bad.append((row.id, "ctr not on cleft"))
            continue
        sl = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in boxes[row.id - 1])
        m = clefts[sl] == row.id
        assert int(m.sum()) == row.size, f"synapse id={row.id}: size {row.size} != cleft voxels {int(m.sum())}"
        # cleft touches both partners in the cells layer (1-voxel dilation)
        d = m.copy()
        d[1:] |= m[:-1]
        d[:-1] |= m[1:]
        d[:, 1:] |= m[:, :-1]
        d[:, :-1] |= m[:, 1:]
        under = set(np.unique(cells[sl][d]).tolist())
        if not {row.pre_pt_root_id, row.post_pt_root_id} <= under:
            bad.append((row.id, f"cleft touches {sorted(under)[:6]}"))
    assert len(bad) == 0, bad[:10]


def test_cells_table_consistent_with_volumes(world, vols):
    cells = pd.read_parquet(world / "cells.parquet")
    assert {"id", "pt_root_id", "pt_position", "soma_pt_position", "cell_type", "ei_class"} <= set(cells.columns)
    assert set(cells["ei_class"]) <= {"excitatory", "inhibitory", "glia"}
    assert "glia" in set(cells["ei_class"]) and cells["cell_type"].nunique() >= 4
    nuc, lab = vols["nuclei"], vols["cells"]
    boxes = ndimage.find_objects(nuc.astype(np.int64))
    for row in cells.itertuples():
        x, y, z = np.asarray(row.pt_position, int)
        assert lab[x, y, z] == row.pt_root_id, f"cells row id={row.id}: nucleus centre not in its cell"
        assert nuc[x, y, z] == row.id, f"cells row id={row.id}: nucleus centre not in its nucleus"
        under = np.unique(lab[boxes[row.id - 1]][nuc[boxes[row.id - 1]] == row.id])
        assert list(under) == [row.pt_root_id], f"nucleus id={row.id} leaks out of its cell: {under}"


def test_mito_table_consistent_with_volumes(world, vols):
    mit = pd.read_parquet(world / "mitochondria.parquet")
    assert set(mit["mito_class"]) == {"tubular", "round", "branched", "swollen"}
    mv, lab = vols["mitochondria"], vols["cells"]
    boxes = ndimage.find_objects(mv.astype(np.int64))
    for row in mit.itertuples():
        x, y, z = np.asarray(row.pt_position, int)
        assert mv[x, y, z] == row.id and lab[x, y, z] == row.pt_root_id, f"mito id={row.id}"
        m = mv[boxes[row.id - 1]] == row.id
        assert int(m.sum()) == row.volume_vox
        assert list(np.unique(lab[boxes[row.id - 1]][m])) == [row.pt_root_id], f"mito id={row.id} leaks out"


def test_vesicle_clouds_inside_presynaptic_boutons(world, vols):
    syn = pd.read_parquet(world / "synapses.parquet")
    ves, lab = vols["vesicles"], vols["cells"]
    boxes = ndimage.find_objects(ves.astype(np.int64))
    for bid, grp in syn.groupby("bouton_id"):
        assert bid <= len(boxes) and boxes[bid - 1] is not None, f"bouton {bid}: no vesicle cloud"
        m = ves[boxes[bid - 1]] == bid
        assert list(np.unique(lab[boxes[bid - 1]][m])) == [grp["pre_pt_root_id"].iloc[0]], f"bouton {bid}"


def _hash_tree(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_determinism(world, tmp_path):
    # a cut-down tiny world (1 x 2 blocks) keeps this fast; the code path is the same
    small = dict(blocks_x=1, blocks_y=2, n_cells=4, n_boutons=12, n_mitos=8)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_world(a, "tiny", seed=0, progress=False, **small)
    generate_world(b, "tiny", seed=0, progress=False, workers=2, **small)  # two processes: the same bytes
    generate_world(c, "tiny", seed=1, progress=False, **small)
    assert _hash_tree(a) == _hash_tree(b)
    assert _hash_tree(a) != _hash_tree(c)
    for name in ("em/8_8_40", "synapses.parquet"):  # the difference is in the data, not only in metadata
        ha = _hash_tree(a / name) if (a / name).is_dir() else hashlib.sha256((a / name).read_bytes()).hexdigest()
        hc = _hash_tree(c / name) if (c / name).is_dir() else hashlib.sha256((c / name).read_bytes()).hexdigest()
        assert ha != hc, name


_RENDER_BLOCK = None  # the real emkit.synth.world._render_block, while the test below replaces it


def _dies_on_the_second_block(block):
    """A block worker that dies on block (0, 1) as a crash in native code would: no exception, no result."""
    import os

    if block == (0, 1):
        os._exit(3)
    return _RENDER_BLOCK(block)


def test_a_dying_block_worker_raises_instead_of_hanging(tmp_path, monkeypatch):
    # multiprocessing.Pool.imap waits forever for the block of a worker that died; generate_world must fail instead
    from concurrent.futures.process import BrokenProcessPool

    from emkit.synth import world as world_module

    monkeypatch.setitem(globals(), "_RENDER_BLOCK", world_module._render_block)
    monkeypatch.setattr(world_module, "_render_block", _dies_on_the_second_block)  # the forked workers see it
    small = dict(blocks_x=1, blocks_y=2, n_cells=4, n_boutons=12, n_mitos=8)
    with pytest.raises(BrokenProcessPool):
        generate_world(tmp_path / "w", "tiny", seed=0, progress=False, workers=2, **small)
    assert not (tmp_path / "w" / "COMPLETE").exists()


def test_noise_textures_are_seam_free_and_unit_sd():
    from emkit.synth.layout import make_layout
    from emkit.synth.params import world_params
    from emkit.synth.render import HALO0, BlockRenderer

    p = world_params("tiny", seed=0, z_sections=4, blocks_x=2, blocks_y=1, n_cells=2, n_boutons=4, n_mitos=2)
    R = BlockRenderer(p, make_layout(p))
    B, H = p["block_xy_vox"], p["block_xy_vox"] + 2 * HALO0
    left = R._noise_textures(-HALO0, -HALO0, H)  # windows of blocks (0, 0) and (1, 0): they overlap by 2 * HALO0
    right = R._noise_textures(-HALO0, B - HALO0, H)
    for a, b, name in zip(left, right, ("grain", "band", "smooth")):
        # away from the window edges (the narrow filters' reach) both blocks see the same field: no seams
        np.testing.assert_array_equal(a[:, :, B + 6:H - 6], b[:, :, 6:2 * HALO0 - 6], err_msg=name)
    grain, band, _ = left
    assert 0.9 < band.std() < 1.1 and 0.9 < grain.std() < 1.1
    # band-pass: almost no power at wavelengths >~ 250 nm (the section mean of 32x32-px tiles is nearly flat)
    tiles = band[:, :256, :256].reshape(4, 8, 32, 8, 32).mean((2, 4))
    assert tiles.std() < 0.1 * band.std()
    # sections are drawn independently
    assert abs(np.corrcoef(band[0].ravel(), band[1].ravel())[0, 1]) < 0.05


def test_cell_interiors_have_texture(vols):
    # real EM cytoplasm is granular at 12-64 nm (SNEMI3D local s.d. ~13-15 grey in 64-nm windows); a flat
    # interior plus noise would give ~ the noise s.d. only
    em, cells = vols["em"].astype(np.float32), vols["cells"]  # (x, y, z)
    inner = ~ndimage.binary_dilation(np.diff(cells, axis=0, prepend=cells[:1]) != 0, iterations=6)
    inner &= ~ndimage.binary_dilation(np.diff(cells, axis=1, prepend=cells[:, :1]) != 0, iterations=6)
    for arr in (vols["nuclei"], vols["mitochondria"], vols["vesicles"]):
        inner &= ~ndimage.binary_dilation(arr != 0, iterations=4)
    z = em.shape[2] // 2
    m = ndimage.uniform_filter(em[..., z], 8)
    local_sd = np.sqrt(np.maximum(ndimage.uniform_filter(em[..., z] ** 2, 8) - m ** 2, 0))
    assert inner[..., z].sum() > 1000
    assert np.median(local_sd[inner[..., z]]) > 13.0  # measured: 17.9 now; 9.4 with the old flat interiors


def test_ensure_world_regenerates_only_when_needed(world):
    stamp = (world / "COMPLETE").stat().st_mtime_ns
    ensure_world(world, "tiny", seed=0, progress=False)
    assert (world / "COMPLETE").stat().st_mtime_ns == stamp


def test_baseline_above_chance_on_neuron_split(world):
    from emkit.synth.baseline import baseline_accuracy

    r = baseline_accuracy(world, n_splits=3)
    assert r["n_classes"] == 6 and r["n_neurons"] >= 12
    # tiny has ~100 synapses from 15 neurons, so the bar is modest; default-size figures are in the docs
    assert r["neuron_split"] > r["chance"] + 0.08, r


def test_section_log_is_the_2d_laplacian_of_gaussian_of_each_section():
    from scipy import ndimage

    from emkit.synth.baseline import section_log

    stack = np.random.default_rng(0).normal(size=(3, 2, 40, 36)).astype(np.float32)  # (N, z, y, x)
    for sigma in (1.4, 3.2):
        per_section = np.stack([[ndimage.gaussian_laplace(section, sigma) for section in cutout] for cutout in stack])
        np.testing.assert_allclose(section_log(stack, sigma), per_section, atol=1e-5)
    # a dark disc of radius r answers most strongly (positive, at its centre) near sigma = r / sqrt(2) (Lindeberg)
    yy, xx = np.mgrid[:64, :64]
    sigmas = (1.4, 1.9, 2.5, 3.2, 4.5)
    for radius, best in ((2, 1.4), (6, 4.5)):  # r / sqrt(2) = 1.41 and 4.24
        disc = np.where((yy - 32) ** 2 + (xx - 32) ** 2 <= radius ** 2, -1.0, 0.0)[None, None]
        responses = [section_log(disc, s)[0, 0, 32, 32] * s ** 2 for s in sigmas]
        assert min(responses) > 0 and sigmas[int(np.argmax(responses))] == best, responses


def test_synapse_features_are_cached_with_the_world_fingerprint(world, monkeypatch):
    from emkit.synth.baseline import synapse_features

    fresh, syn = synapse_features(world, cache=False)
    first, _ = synapse_features(world)  # computes and stores
    from emkit.synth.baseline import FEATURES_VERSION

    stored = world / "derived" / f"synapse_features_v{FEATURES_VERSION}_xy24_z2.npz"
    assert stored.exists()
    np.testing.assert_array_equal(first, fresh)
    fingerprint = (world / "COMPLETE").read_text().strip()
    marked = np.full_like(fresh, 7.0)
    np.savez(stored, X=marked, ids=syn["id"].to_numpy(), world=np.array(fingerprint))
    np.testing.assert_array_equal(synapse_features(world)[0], marked)  # read from the store, not recomputed
    np.savez(stored, X=marked, ids=syn["id"].to_numpy(), world=np.array("another world"))
    np.testing.assert_array_equal(synapse_features(world)[0], fresh)  # stale fingerprint: recomputed, rewritten
    with np.load(stored) as f:
        assert str(f["world"]) == fingerprint
    stored.unlink()

    def read_only(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(np, "savez", read_only)
    with pytest.warns(UserWarning, match="could not keep the synapse features"):
        np.testing.assert_array_equal(synapse_features(world)[0], fresh)  # still returned, only not kept
    assert not stored.exists()


def test_difficulty_one_removes_class_signal_from_parameters():
    from emkit.synth.layout import make_layout
    from emkit.synth.params import world_params

    easy = make_layout(world_params("tiny", difficulty=0.0, n_cells=2, n_mitos=2))
    flat = make_layout(world_params("tiny", difficulty=1.0, n_cells=2, n_mitos=2))
    spread = lambda L: np.std([v["ves_diam_nm"] for v in L["nt_effective"].values()])  # noqa: E731
    assert spread(easy) > 3.0 and spread(flat) < 1e-9


def test_cli_registers_synth():
    import argparse

    from emkit.synth.cli import register_cli

    ap = argparse.ArgumentParser()
    register_cli(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["synth", "--out", "/tmp/x", "--size", "tiny", "--seed", "3", "--difficulty", "0.2"])
    assert args.func and args.seed == 3 and args.difficulty == 0.2 and args.size == "tiny"


def test_pre_and_post_points_lie_in_their_objects(world, vols):
    syn = pd.read_parquet(world / "synapses.parquet")
    cells = vols["cells"]
    pre = np.array([cells[tuple(np.asarray(p, int))] for p in syn["pre_pt_position"]])
    post = np.array([cells[tuple(np.asarray(p, int))] for p in syn["post_pt_position"]])
    assert (pre == syn["pre_pt_root_id"].to_numpy()).mean() >= 0.95
    assert (post == syn["post_pt_root_id"].to_numpy()).mean() >= 0.95


def test_generative_features_are_the_neurons_drawn_parameters(world):
    import json

    from emkit.synth.baseline import generative_features
    from emkit.synth.params import NT_PARAM_KEYS

    X, syn = generative_features(world)
    assert X.shape == (len(syn), len(NT_PARAM_KEYS)) and np.isfinite(X).all()
    np.testing.assert_allclose(X.mean(0), 0.0, atol=1e-9)
    # every synapse of one neuron carries that neuron's parameters
    for _, rows in syn.groupby("neuron_id").indices.items():
        assert np.ptp(X[rows], axis=0).max() < 1e-12
    # class means follow the class table the world was drawn from (vesicle diameter, in log units)
    truth = json.loads((world / "truth.json").read_text())["nt_effective_params"]
    col = NT_PARAM_KEYS.index("ves_diam_nm")
    classes = sorted(truth)
    measured = [X[syn["neurotransmitter"].to_numpy() == c, col].mean() for c in classes]
    expected = [np.log(truth[c]["ves_diam_nm"]) for c in classes]
    assert np.corrcoef(measured, expected)[0, 1] > 0.8


def test_known_quantities_follow_the_given_rows_and_name_unknown_ids(world):
    import pandas as pd

    from emkit.synth.baseline import generative_features, known_quantities
    from emkit.synth.params import NT_PARAM_KEYS

    X, syn = generative_features(world)
    syn = syn.copy()
    for partner in ("pre", "post"):  # the point schema's partner columns, from the CAVE-style voxel positions
        xyz = np.stack(syn[f"{partner}_pt_position"].to_numpy()) * np.array([8.0, 8.0, 40.0])
        for i, a in enumerate("xyz"):
            syn[f"{partner}_{a}_nm"] = xyz[:, i]
    shuffled = syn.sample(frac=1.0, random_state=0)
    known = known_quantities(world, shuffled)
    assert list(known.columns) == [*NT_PARAM_KEYS, "axis x", "axis y", "|axis z|"]
    # rows follow the given table: its first row is synapse shuffled.iloc[0]
    first = int(np.flatnonzero(syn["id"].to_numpy() == shuffled["id"].iloc[0])[0])
    np.testing.assert_allclose(known.iloc[0, :len(NT_PARAM_KEYS)].to_numpy(), X[first])
    axis = known[["axis x", "axis y", "|axis z|"]].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(axis, axis=1), 1.0)
    bad = pd.concat([shuffled.head(2), shuffled.head(1).assign(id=-7)])
    with pytest.raises(ValueError, match=r"\[-7\]"):
        known_quantities(world, bad)


def test_telling_parameters_ranks_drawn_parameters_by_class_share_and_ignores_the_axis():
    import pandas as pd

    from emkit.synth.baseline import telling_parameters
    from emkit.synth.params import NT_PARAM_KEYS

    share = pd.Series({k: i / 10 for i, k in enumerate(NT_PARAM_KEYS)} | {"axis x": 5.0})
    assert telling_parameters(share, n=2) == [NT_PARAM_KEYS[-1], NT_PARAM_KEYS[-2]]
    with pytest.raises(ValueError, match="no value for the drawn parameter"):
        telling_parameters(share.drop(NT_PARAM_KEYS[0]))
