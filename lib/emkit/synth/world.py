"""Write a synthetic ground-truth EM world to disk: precomputed volumes (cloud-volume, ``file://``) + parquet tables.

Layout of the world folder (a contract other modules code against)::

    em/ cells/ nuclei/ mitochondria/ vesicles/ clefts/      neuroglancer precomputed, mips 0-2 (2x2x1)
    synapses.parquet cells.parquet mitochondria.parquet       CAVE-style tables, positions = mip-0 voxels (x, y, z)
    truth.json                                                 every parameter, per-neuron idiosyncrasies, tables
    COMPLETE                                                   written last: the parameter fingerprint
    derived/                                                   optional: features computed later (synth.baseline)

The volume is rendered block by block (one block = one column of 256x256 mip-0 voxels, all sections), so memory
does not grow with the world size (the ``large`` size streams).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .layout import make_layout
from .params import world_params
from .render import BlockRenderer

SEG_LAYERS = ("cells", "nuclei", "mitochondria", "vesicles", "clefts")
ALL_LAYERS = ("em",) + SEG_LAYERS


def _emkit_version() -> str:
    try:
        from emkit import __version__
        return str(__version__)
    except Exception:  # pragma: no cover
        return "unknown"


def fingerprint(p: dict) -> str:
    """SHA-256 of the canonical JSON of the world parameters and the emkit version."""
    blob = json.dumps(dict(params=p, emkit=_emkit_version()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _downsample_image(a):
    """2x2x1 mean of a (Z, Y, X) uint8 block (our own: a reshape-mean; tinybrain is not installed)."""
    z, y, x = a.shape
    m = a.reshape(z, y // 2, 2, x // 2, 2).astype(np.uint16).sum((2, 4))
    return ((m + 2) // 4).astype(np.uint8)


def _downsample_seg(a):
    """2x2x1 mode of a (Z, Y, X) label block, COUNTLESS-style (Silversmith 2017): the value that occurs at least
    twice among the 4 children wins, ties go to the first child."""
    A, Bq, C, D = a[:, ::2, ::2], a[:, ::2, 1::2], a[:, 1::2, ::2], a[:, 1::2, 1::2]
    out = np.where(C == D, C, A)
    out = np.where((Bq == C) | (Bq == D), Bq, out)
    return np.where((A == Bq) | (A == C) | (A == D), A, out)


def _make_volumes(root: Path, p: dict, shape_vox):
    from cloudvolume import CloudVolume

    vols = {}
    for name in ALL_LAYERS:
        is_img = name == "em"
        info = CloudVolume.create_new_info(
            num_channels=1, layer_type="image" if is_img else "segmentation",
            data_type="uint8" if is_img else "uint64", encoding="raw" if is_img else "compressed_segmentation",
            resolution=list(p["voxel_size_nm"]), voxel_offset=[0, 0, 0], volume_size=list(shape_vox),
            chunk_size=list(p["chunk_size_vox"]),
            **({} if is_img else dict(compressed_segmentation_block_size=[8, 8, 8])))
        path = root / name
        cv = CloudVolume(f"file://{path}", info=info, compress=False, progress=False)
        for _m in range(1, p["n_mips"]):
            cv.add_scale([2 ** _m, 2 ** _m, 1], chunk_size=list(p["chunk_size_vox"]),
                         encoding="raw" if is_img else "compressed_segmentation")
        cv.commit_info()
        vols[name] = path
    return vols


def generate_world(root, size: str = "tiny", seed: int = 0, difficulty: float | None = None,
                   progress: bool = True, workers: int | None = None, **overrides) -> dict:
    """Generate the synthetic EM world into folder ``root``.

    Parameters
    ----------
    root : path
        Output folder (created; an existing world there is replaced).
    size : {"tiny", "default", "large"}
        ``tiny`` (tests, seconds), ``default`` (the book), ``large`` (scale benchmarks; streamed).
    seed : int
        Same seed and parameters -> identical bytes.
    difficulty : float in [0, 1], optional
        Class separability knob (0: class tables as written; 1: no class signal).
    progress : bool
        tqdm progress bar over blocks.
    workers : int, optional
        Processes rendering and writing blocks (fork; each block's chunks are disjoint). Default: the environment
        variable ``EMKIT_SYNTH_WORKERS``, else one per CPU core up to 4 (~600 MB each for ``default``). The bytes
        do not depend on it (blocks are merged in order). A worker that dies raises ``BrokenProcessPool``
        (``concurrent.futures.process``) and leaves the world incomplete. Measured on 2 idle cores
        (``benchmarks/bench_synth.py --sizes default``): 123 s with 1 worker, 64 s with 2.
    **overrides
        See :func:`emkit.synth.params.world_params`.

    Returns
    -------
    dict
        ``root``, ``size``, ``seed``, ``difficulty``, ``shape_vox`` (x, y, z), ``voxel_size_nm`` (x, y, z),
        ``n_synapses``, ``n_cells``, ``n_mitochondria``, ``n_neurons``, ``fingerprint``, ``seconds``.
    """
    from tqdm.auto import tqdm

    t0 = time.time()
    root = Path(root)
    p = world_params(size, seed, difficulty, **overrides)
    fp = fingerprint(p)
    if root.exists():
        for name in ALL_LAYERS + ("synapses.parquet", "cells.parquet", "mitochondria.parquet", "truth.json",
                                  "COMPLETE", "derived"):  # derived: features computed from an older world
            q = root / name
            if q.is_dir():
                shutil.rmtree(q)
            elif q.exists():
                q.unlink()
    root.mkdir(parents=True, exist_ok=True)
    L = make_layout(p)
    B = p["block_xy_vox"]
    shape = [p["blocks_x"] * B, p["blocks_y"] * B, p["z_sections"]]
    _make_volumes(root, p, shape)
    R = BlockRenderer(p, L)
    stats: dict = {}
    blocks = [(bx, by) for by in range(p["blocks_y"]) for bx in range(p["blocks_x"])]
    n_workers = _n_workers(workers, len(blocks))
    global _JOB
    _JOB = (R, p, root)
    _VOLS.clear()  # volume handles are opened per world and per process (after the fork)
    pool = None
    try:
        if n_workers > 1:  # fork: the children inherit the renderer; each opens its own volumes and writes its blocks
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # an executor, not multiprocessing.Pool: if a worker dies (killed, out of memory, a crash in native code)
            # Pool.imap waits for its block forever, whereas the executor raises BrokenProcessPool
            pool = ProcessPoolExecutor(n_workers, mp_context=mp.get_context("fork"))
            results = pool.map(_render_block, blocks)  # in block order, so the merge is deterministic
        else:
            results = map(_render_block, blocks)
        for block_stats in tqdm(results, total=len(blocks), desc=f"synth {size}", disable=not progress):
            _merge_stats(stats, block_stats)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _JOB = None
        _VOLS.clear()
    n = _write_tables(root, p, L, stats)
    truth = dict(params=p, emkit_version=_emkit_version(), fingerprint=fp, shape_vox=shape,
                 world_nm=L["world_nm"], soma_layer_y_nm=L["soma_y_nm"],
                 nt_effective_params=L["nt_effective"],
                 neurons=[dict(root_id=x["root"], neurotransmitter=x["neurotransmitter"],
                               hemilineage=x["hemilineage"], brightness_offset=x["brightness"],
                               params=x["params"], idiosyncrasy_factors=x["idiosyncrasy"]) for x in L["neurons"]],
                 sections=dict(gain=R.gain.tolist(), offset=R.offset.tolist(),
                               missing=np.where(R.missing)[0].tolist(),
                               shifted={int(z): R.shift[z].tolist() for z in np.where(np.any(R.shift != 0, 1))[0]}),
                 layers=dict(em="em", cells="cells", nuclei="nuclei", mitochondria="mitochondria",
                             vesicles="vesicles", clefts="clefts"),
                 notes=("Positions are mip-0 voxel indices (x, y, z); voxel i sits at i*voxel_size_nm. Somata are "
                        "shrunk ~5-8x (see emkit.synth.params). Shifted sections move the image only; labels are "
                        "the true geometry."))
    (root / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True))
    (root / "COMPLETE").write_text(fp + "\n")
    info = dict(root=str(root), size=size, seed=int(seed), difficulty=p["difficulty"], shape_vox=shape,
                voxel_size_nm=list(p["voxel_size_nm"]), fingerprint=fp, seconds=round(time.time() - t0, 2), **n)
    return info


_JOB = None  # (BlockRenderer, params, root) of the world being generated; read by _render_block (also in children)


def _n_workers(workers, n_blocks: int) -> int:
    if workers is None:
        env = os.environ.get("EMKIT_SYNTH_WORKERS")
        workers = int(env) if env else min(4, os.cpu_count() or 1)
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return max(1, min(int(workers), n_blocks))


_VOLS: dict = {}  # per process: root -> {layer: [CloudVolume per mip]}


def _open_volumes(root: Path, p: dict):
    from cloudvolume import CloudVolume

    key = str(root)
    if key not in _VOLS:
        _VOLS.clear()
        _VOLS[key] = {name: [CloudVolume(f"file://{root / name}", mip=m, compress=False, progress=False,
                                         fill_missing=False, non_aligned_writes=False, parallel=1)
                             for m in range(p["n_mips"])] for name in ALL_LAYERS}
    return _VOLS[key]


def _render_block(block):
    """Render block (bx, by) of the world in ``_JOB``, write it at every mip (one write per layer and mip; the
    block is chunk-aligned at every mip) and return its table statistics."""
    R, p, root = _JOB
    bx, by = block
    vols = _open_volumes(root, p)
    B = p["block_xy_vox"]
    stats: dict = {}
    out = R.render(bx, by, stats)
    for name in ALL_LAYERS:
        a = out[name]
        for m in range(p["n_mips"]):
            if m:
                a = _downsample_image(a) if name == "em" else _downsample_seg(a)
            s = B >> m
            x0, y0 = bx * s, by * s
            vols[name][m][x0:x0 + s, y0:y0 + s, 0:p["z_sections"]] = a.transpose(2, 1, 0)  # (x, y, z) F-order view
    return stats


def _merge_stats(stats: dict, block_stats: dict) -> None:
    """Add one block's per-object counts into ``stats`` (blocks merged in block order: same result as counting
    them one after the other)."""
    for layer, objs in block_stats.items():
        d = stats.setdefault(layer, {})
        for oid, e in objs.items():
            t = d.setdefault(oid, dict(n=0, sum=np.zeros(3), anchor=None, best=np.inf))
            t["n"] += e["n"]
            t["sum"] += e["sum"]
            if e["best"] < t["best"]:
                t["best"], t["anchor"] = e["best"], e["anchor"]


def _write_tables(root: Path, p: dict, L: dict, stats: dict) -> dict:
    nrn = {x["root"]: x for x in L["neurons"]}
    cleft_n = stats.get("clefts", {})
    rows = []
    for s in L["synapses"]:
        size = int(cleft_n.get(s["id"], {}).get("n", 0))
        if size == 0:  # cleft fully overwritten by a neighbour: not in the volume, so not in the table
            continue
        rows.append(dict(id=s["id"], pre_pt_root_id=s["pre_root"], post_pt_root_id=s["post_root"],
                         pre_pt_position=np.array(s["pre_vox"], np.int64),
                         ctr_pt_position=np.array(s["ctr_vox"], np.int64),
                         post_pt_position=np.array(s["post_vox"], np.int64), size=size,
                         neurotransmitter=s["neurotransmitter"], neuron_id=s["pre_root"],
                         hemilineage=nrn[s["pre_root"]]["hemilineage"], region=s["region"],
                         perisomatic=bool(s["perisomatic"]), bouton_id=s["bouton"],
                         cleft_width_nm=float(s["cleft_nm"]), psd_thickness_nm=float(s["psd_nm"])))
    syn = pd.DataFrame(rows)
    syn = syn.astype(dict(id="int64", pre_pt_root_id="int64", post_pt_root_id="int64", size="int64",
                          neuron_id="int64", bouton_id="int64"))
    syn.to_parquet(root / "synapses.parquet", index=False)
    vs = np.array(p["voxel_size_nm"], float)
    nuc_n = stats.get("nuclei", {})
    crow = []
    for c in L["cells"]:
        ctr = np.round(np.array(c["nucleus_center_nm"]) / vs).astype(np.int64)
        crow.append(dict(id=c["id"], pt_root_id=c["root"], pt_position=ctr,
                         soma_pt_position=np.round(np.array(c["center_nm"]) / vs).astype(np.int64),
                         cell_type=c["cell_type"], ei_class=c["ei_class"], soma_radius_nm=c["soma_r_nm"],
                         nucleus_radii_nm=np.array(c["nucleus_radii_nm"]),
                         nucleus_volume_vox=int(nuc_n.get(c["id"], {}).get("n", 0)),
                         nucleus_offset_nm=c["nucleus_offset_nm"], nucleus_folds=c["n_folds"],
                         nucleus_fold_depth=c["fold_depth"], heterochromatin=c["heterochromatin"],
                         n_perisomatic_synapses=int(syn["post_pt_root_id"].eq(c["root"]).mul(
                             syn["perisomatic"]).sum()) if len(syn) else 0))
    cells = pd.DataFrame(crow).astype(dict(id="int64", pt_root_id="int64"))
    cells.to_parquet(root / "cells.parquet", index=False)
    mito_n = stats.get("mitochondria", {})
    mrow = []
    for m in L["mitos"]:
        e = mito_n.get(m["id"])
        if not e or e["n"] == 0:
            continue
        mrow.append(dict(id=m["id"], pt_root_id=m["root"], pt_position=np.array(e["anchor"], np.int64),
                         mito_class=m["mito_class"], volume_vox=int(e["n"]),
                         centroid_vox=(e["sum"] / e["n"]).astype(float)))
    mit = pd.DataFrame(mrow).astype(dict(id="int64", pt_root_id="int64", volume_vox="int64"))
    mit.to_parquet(root / "mitochondria.parquet", index=False)
    return dict(n_synapses=len(syn), n_cells=len(cells), n_mitochondria=len(mit), n_neurons=len(L["neurons"]))


def ensure_world(root, size: str = "tiny", seed: int = 0, difficulty: float | None = None, progress: bool = True,
                 **overrides) -> Path:
    """Generate the world into ``root`` only if ``root/COMPLETE`` is missing or holds another fingerprint.

    Returns
    -------
    pathlib.Path
        ``root``.
    """
    root = Path(root)
    p = world_params(size, seed, difficulty, **overrides)
    done = root / "COMPLETE"
    if not (done.exists() and done.read_text().strip() == fingerprint(p)):
        generate_world(root, size, seed, difficulty, progress=progress, **overrides)
    return root
