"""Global layout of the synthetic world: every object as a few numbers, before any voxel exists.

The layout is small (points, radii, polylines), so that :mod:`emkit.synth.render` can rasterise any block of the
world independently and identically (no seams, streaming for the ``large`` size). Coordinates are nm, (x, y, z);
a voxel index ``i`` sits at ``i * voxel_size_nm`` (its centre).
"""

from __future__ import annotations

import math

import numpy as np

# Id ranges (uint64 in the volumes; small on purpose so that tables stay readable).
CELL_ROOT0 = 10_000  # soma-bearing cells (neurons + glia); their dendrite / glial processes share the id
PRE_ROOT0 = 20_000  # presynaptic neurons (somata outside the volume, as in a neuropil cutout)
OTHER_ROOT0 = 30_000  # other neurites passing through

REGION_NAMES = ("AL", "LH", "MB_CA", "SLP", "SMP", "CRE", "PLP", "AVLP", "SIP", "PVLP", "WED", "GNG")
GAP_NM = 20.0  # half distance between two facing seed surfaces at a synaptic contact


def _unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _random_dirs(rng, n, z_scale=1.0):
    v = rng.standard_normal((n, 3))
    v[:, 2] *= z_scale
    return _unit(v)


def _perp_basis(n):
    """Two unit vectors orthogonal to unit vector ``n`` (3,)."""
    a = np.array([1.0, 0, 0]) if abs(n[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(n, a)
    u /= np.linalg.norm(u)
    return u, np.cross(n, u)


def _rotation(rng):
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


class _Grid:
    """Spatial hash of spheres for rejection sampling (our own: a few lines, no tree rebuilds, plain floats)."""

    def __init__(self, cell_nm=600.0):
        self.cell = cell_nm
        self.d: dict = {}
        self.rmax = 0.0

    def free(self, p, r, margin=30.0, ignore=()):
        x, y, z = float(p[0]), float(p[1]), float(p[2])
        c = self.cell
        kx, ky, kz = int(x // c), int(y // c), int(z // c)
        reach = int(math.ceil((r + self.rmax + margin) / c))
        for dx in range(-reach, reach + 1):
            for dy in range(-reach, reach + 1):
                for dz in range(-reach, reach + 1):
                    lst = self.d.get((kx + dx, ky + dy, kz + dz))
                    if not lst:
                        continue
                    for (qx, qy, qz, rq, tag) in lst:
                        lim = r + rq + margin
                        if (qx - x) ** 2 + (qy - y) ** 2 + (qz - z) ** 2 < lim * lim and tag not in ignore:
                            return False
        return True

    def add(self, p, r, tag=None):
        x, y, z = float(p[0]), float(p[1]), float(p[2])
        c = self.cell
        self.d.setdefault((int(x // c), int(y // c), int(z // c)), []).append((x, y, z, float(r), tag))
        self.rmax = max(self.rmax, float(r))


def make_layout(p: dict) -> dict:
    """Draw the whole world's layout from parameters ``p`` (see :func:`emkit.synth.params.world_params`).

    Returns
    -------
    dict with keys
        ``world_nm`` (3,) extent (x, y, z); ``soma_y_nm`` end of the cell-body layer;
        ``neurons`` (list of dict, presynaptic neurons with class and idiosyncrasy parameters);
        ``cells`` (list of dict); ``segments`` (dict of arrays: p0, p1 (S, 3) nm, r (S,) nm, root (S,));
        ``boutons``, ``synapses``, ``mitos`` (lists of dict); ``brightness`` (dict root -> grey offset).
    """
    rng = np.random.default_rng([p["seed"], 1])
    vs = np.array(p["voxel_size_nm"], float)
    bxy = p["block_xy_vox"]
    world = np.array([p["blocks_x"] * bxy * vs[0], p["blocks_y"] * bxy * vs[1], p["z_sections"] * vs[2]])
    soma_y = p["soma_rows"] * bxy * vs[1]
    nu = p["nuisance"]
    d = p["difficulty"]
    nt_names = list(p["nt_classes"])
    keys = list(next(iter(p["nt_classes"].values())).keys())
    table = np.array([[p["nt_classes"][c][k] for k in keys] for c in nt_names])
    mean = table.mean(0)
    eff = mean + (1.0 - d) * (table - mean)  # class parameters at this difficulty

    # ---- presynaptic neurons: hemilineage -> transmitter (one transmitter per hemilineage, as in flies)
    n_hl = p["n_hemilineages"]
    hl_names = [f"{k // 2 + 1:02d}{'AB'[k % 2]}" for k in range(n_hl)]
    hl_class = [k % len(nt_names) for k in range(n_hl)]
    rng.shuffle(hl_class)
    neurons = []
    n_regions = p["n_regions"]
    for i in range(p["n_pre_neurons"]):
        hl = i % n_hl
        ci = hl_class[hl]
        fac = np.exp(rng.normal(0.0, nu["neuron_sd"], len(keys)))
        par = dict(zip(keys, (eff[ci] * fac).tolist()))
        par["ves_aspect"] = float(min(1.0, par["ves_aspect"]))
        par["dcv_frac"] = float(min(0.5, par["dcv_frac"]))
        par["tbar"] = float(min(1.0, par["tbar"]))
        neurons.append(dict(root=PRE_ROOT0 + i, neurotransmitter=nt_names[ci], hemilineage=hl_names[hl],
                            brightness=float(rng.normal(0.0, nu["neuron_brightness_sd"])), params=par,
                            idiosyncrasy=dict(zip(keys, fac.tolist()))))

    # ---- somata (random sequential addition in the cell-body layer)
    types = list(p["cell_types"])
    w = np.array([p["cell_types"][t]["weight"] for t in types])
    w /= w.sum()
    cells = []
    grid_soma = _Grid(2600.0)
    tries = 0
    # every type is present: the first len(types) cells cycle through them; a drawn type is retried until it
    # fits (so that small types do not win the packing by default)
    t = None
    while len(cells) < p["n_cells"] and tries < p["n_cells"] * 300:
        tries += 1
        if t is None:
            t = types[len(cells)] if len(cells) < len(types) else types[rng.choice(len(types), p=w)]
        ct = p["cell_types"][t]
        R = rng.uniform(*ct["soma_r_nm"])
        c = np.array([rng.uniform(R * 0.6, world[0] - R * 0.6), rng.uniform(R * 0.6, soma_y - R * 0.4),
                      rng.uniform(world[2] * 0.2, world[2] * 0.8)])
        if not grid_soma.free(c, R * (1.6 if ct["lobes"] else 1.0), margin=60.0):
            continue
        grid_soma.add(c, R * (1.6 if ct["lobes"] else 1.0))
        i = len(cells)
        rot = _rotation(rng)
        rn = ct["nuc_ratio"] * R * rng.uniform(0.95, 1.05)
        a = ct["nuc_aspect"] * rng.uniform(0.95, 1.05)
        radii = np.array([rn * a ** (2 / 3), rn * a ** (-1 / 3), rn * a ** (-1 / 3)])
        max_off = max(0.0, 0.93 * R - radii.max())
        off = _random_dirs(rng, 1, 0.5)[0] * min(ct["offset"] * R, max_off)
        nf = int(ct["folds"] + (rng.integers(-1, 2) if ct["folds"] else 0))
        lobes = [(c + dd * R * 0.95).tolist() for dd in _random_dirs(rng, ct["lobes"], 0.4)] if ct["lobes"] else []
        cells.append(dict(
            id=i + 1, root=CELL_ROOT0 + i, cell_type=t, ei_class=ct["ei_class"], center_nm=c.tolist(),
            soma_r_nm=float(R), nucleus_center_nm=(c + off).tolist(), nucleus_radii_nm=radii.tolist(),
            nucleus_rot=rot.tolist(), nucleus_offset_nm=float(np.linalg.norm(off)), n_folds=max(nf, 0),
            fold_depth=float(ct["fold_depth"] * rng.uniform(0.8, 1.2)) if nf > 0 else 0.0,
            fold_phase=float(rng.uniform(0, 2 * np.pi)), heterochromatin=float(ct["hetero"]),
            nucleolus_offset=(_random_dirs(rng, 1)[0] * 0.35).tolist(), lobes_nm=lobes,
            lobe_r_nm=float(R * 0.45), cyto=float(ct["cyto"]), n_perisomatic=0))
        t = None
    neuron_cells = [c for c in cells if c["ei_class"] != "glia"]
    glia_cells = [c for c in cells if c["ei_class"] == "glia"]

    # ---- neurite tubes (polylines through the world)
    segs = []
    step = 200.0

    def tube(root, r, start, direction, jitter=0.12, wobble=0.0):
        pts = [start]
        for sgn in (1.0, -1.0):
            pos, dvec = start.copy(), direction * sgn
            for _ in range(600):
                dvec = _unit(dvec + rng.normal(0, jitter, 3) * np.array([1, 1, 0.5]))
                pos = pos + dvec * step
                pts.append(pos) if sgn > 0 else pts.insert(0, pos)
                if np.any(pos < -300) or np.any(pos > world + 300):
                    break
        pts = np.array(pts)
        rr = r * np.exp(rng.normal(0, wobble, len(pts) - 1)) if wobble else np.full(len(pts) - 1, r)
        segs.append((pts[:-1], pts[1:], rr, np.full(len(pts) - 1, root)))
        return pts

    volume_um3 = float(np.prod(world)) / 1e9
    n_tubes = int(round(p["nuisance"]["crowding"] * 4.0 * volume_um3 / (world[0] / 1000.0)))
    axons = {}
    neuropil_y = (soma_y, world[1])
    for nrn in neurons:  # 1-2 axons per presynaptic neuron, running through the neuropil
        axons[nrn["root"]] = []
        for _ in range(3 + int(rng.integers(0, 3))):
            s = np.array([rng.uniform(0, world[0]), rng.uniform(*neuropil_y) if neuropil_y[1] > neuropil_y[0]
                          else rng.uniform(0, world[1]), rng.uniform(0.25, 0.75) * world[2]])
            dv = _unit(np.array([1.0, rng.normal(0, 0.12), rng.normal(0, 0.08)]))
            axons[nrn["root"]].append(tube(nrn["root"], rng.uniform(60, 95), s, dv, jitter=0.06))
    other = 0
    for k in range(n_tubes):
        s = rng.uniform(0, 1, 3) * world
        dv = _random_dirs(rng, 1, 0.45)[0]
        u = rng.random()
        if u < 0.55 and neuron_cells:  # dendrite of a cell in the volume
            root, r, wob = neuron_cells[rng.integers(len(neuron_cells))]["root"], rng.uniform(110, 300), 0.15
        elif u < 0.65 and glia_cells:  # glial process: thin, irregular
            root, r, wob = glia_cells[rng.integers(len(glia_cells))]["root"], rng.uniform(45, 80), 0.35
        else:  # other axons / dendrites passing through
            root, r, wob = OTHER_ROOT0 + other, rng.uniform(55, 160), 0.1
            other += 1
        tube(root, r, s, dv, wobble=wob)
    segments = dict(p0=np.concatenate([s[0] for s in segs]), p1=np.concatenate([s[1] for s in segs]),
                    r=np.concatenate([s[2] for s in segs]), root=np.concatenate([s[3] for s in segs]))

    # ---- boutons and synapses
    class _Both:  # sites (small, fine grid) + somata (large, coarse grid): keeps each lookup to ~27 cells
        def __init__(self):
            self.small, self.big = _Grid(900.0), _Grid(2600.0)

        def free(self, p_, r, margin=30.0, ignore=()):
            return self.small.free(p_, r, margin, ignore) and self.big.free(p_, r, margin, ignore)

        def add(self, p_, r, tag=None):
            (self.big if r > 400 else self.small).add(p_, r, tag)

    grid = _Both()
    for c in cells:  # somata (and lobes) are obstacles for synaptic sites
        grid.big.add(np.array(c["center_nm"]), c["soma_r_nm"], tag=("soma", c["root"]))
        for lb in c["lobes_nm"]:
            grid.big.add(np.array(lb), c["lobe_r_nm"], tag=("soma", c["root"]))
    boutons, synapses = [], []
    pre_by_class: dict = {}
    for nrn in neurons:
        pre_by_class.setdefault(nrn["neurotransmitter"], []).append(nrn)
    region_w = world[0] / n_regions
    pref = {nrn["root"]: [c["root"] for c in (rng.choice(neuron_cells, size=min(3, len(neuron_cells)),
                                                         replace=False) if neuron_cells else [])]
            for nrn in neurons}
    syn_sd = nu["synapse_sd"]

    def make_bouton(nrn, C, rb, contact_dirs, posts, peri_cell=None):
        bid = len(boutons) + 1
        npar = nrn["params"]
        cloud_r = float(min(npar["cloud_r_nm"], rb - 30.0))
        mean_dir = _unit(np.sum(contact_dirs, 0) + 1e-9) if len(contact_dirs) else np.zeros(3)
        cloud_c = C + mean_dir * min(0.3 * rb, rb - cloud_r - 10.0)
        boutons.append(dict(id=bid, root=nrn["root"], center_nm=C.tolist(), r_nm=float(rb),
                            cloud_center_nm=cloud_c.tolist(), cloud_r_nm=cloud_r,
                            params={k: float(v * math.exp(rng.normal(0, syn_sd))) if k != "ves_aspect" else
                                    float(min(1.0, v * math.exp(rng.normal(0, syn_sd)))) for k, v in npar.items()}))
        for n, post in zip(contact_dirs, posts):
            Pv = np.round((C + n * (rb + GAP_NM)) / vs)
            P = Pv * vs
            sid = len(synapses) + 1
            bp = boutons[-1]["params"]
            rs = float(rng.uniform(110, 170)) if peri_cell is None else 0.0
            synapses.append(dict(
                id=sid, bouton=bid, pre_root=nrn["root"], post_root=post, ctr_vox=Pv.astype(int).tolist(),
                ctr_nm=P.tolist(), normal=n.tolist(), spine_center_nm=(P + n * (GAP_NM + rs)).tolist(),
                spine_r_nm=rs, disk_r_nm=float(rng.uniform(110, 170)), cleft_nm=bp["cleft_nm"],
                psd_nm=bp["psd_nm"], tbar=bp["tbar"], neurotransmitter=nrn["neurotransmitter"],
                hemilineage=nrn["hemilineage"], region=REGION_NAMES[min(int(P[0] // region_w), n_regions - 1)
                                                                    % len(REGION_NAMES)],
                perisomatic=peri_cell is not None,
                pre_vox=np.round((P - n * min(rb * 0.6, 200.0)) / vs).astype(int).tolist(),  # in the cloud
                post_vox=np.round((P + n * 100.0) / vs).astype(int).tolist()))
        return bid

    def ok_dirs(k, zs=0.8):
        dirs = []
        for _ in range(40):
            v = _random_dirs(rng, 1, zs)[0]
            if all(np.dot(v, q) < 0.5 for q in dirs):
                dirs.append(v)
            if len(dirs) == k:
                break
        return dirs

    margin = np.array([350.0, 350.0, 60.0])
    tries = 0
    placed = 0
    lo = margin.copy()
    hi = world - margin
    cand_pts = {}
    for nrn in neurons:  # axon points where a bouton of the largest size fits (computed once)
        pts = np.concatenate(axons[nrn["root"]])
        rmax_b = 1.15 * max(250.0, nrn["params"]["cloud_r_nm"] + 50.0)
        ok = np.all(pts > lo + rmax_b, 1) & np.all(pts < hi - rmax_b, 1) & (pts[:, 1] > soma_y + rmax_b)
        cand_pts[nrn["root"]] = pts[ok]
    while placed < p["n_boutons"] and tries < p["n_boutons"] * 20:
        nrn = neurons[tries % len(neurons)]
        tries += 1
        rb = float(max(250.0, nrn["params"]["cloud_r_nm"] + 50.0) * rng.uniform(1.0, 1.15))
        cand = cand_pts[nrn["root"]]
        if not len(cand):
            continue
        C = cand[rng.integers(len(cand))] + rng.normal(0, 20, 3)
        if not grid.free(C, rb, margin=10.0):
            continue
        k = int(rng.choice([1, 2, 3, 4, 5], p=[0.05, 0.2, 0.3, 0.3, 0.15]))  # polyadic, as in flies
        dirs, posts, spines = [], [], []
        for n in ok_dirs(k):
            P = C + n * (rb + GAP_NM)
            rs = 170.0
            S = P + n * (GAP_NM + rs)
            if P[2] < 280 or P[2] > world[2] - 280 or np.any(S < 100) or np.any(S > world - 100) \
                    or not grid.free(S, rs, margin=5.0):
                continue
            if any(np.sum((S - s2) ** 2) < (2 * rs + 20) ** 2 for s2 in spines):
                continue
            post = (rng.choice(pref[nrn["root"]]) if rng.random() < 0.6 and pref[nrn["root"]]
                    else neuron_cells[rng.integers(len(neuron_cells))]["root"])
            dirs.append(n), posts.append(int(post)), spines.append(S)
        if not dirs:
            continue
        grid.add(C, rb, tag=("bouton", len(boutons) + 1))
        for S in spines:
            grid.add(S, 170.0, tag=("spine", len(boutons) + 1))
        make_bouton(nrn, C, rb, dirs, posts)
        placed += 1

    # perisomatic boutons (preferentially GABAergic onto inhibitory-target somata)
    for c in neuron_cells:
        ct = p["cell_types"][c["cell_type"]]
        for _ in range(int(rng.poisson(ct["peri_rate"]))):
            if rng.random() < ct["peri_gaba"] and pre_by_class.get("gaba"):
                nrn = pre_by_class["gaba"][rng.integers(len(pre_by_class["gaba"]))]
            else:
                nrn = neurons[rng.integers(len(neurons))]
            rb = float(max(250.0, nrn["params"]["cloud_r_nm"] + 50.0))
            for _try in range(12):
                dvec = _random_dirs(rng, 1, 0.5)[0]
                C = np.array(c["center_nm"]) + dvec * (c["soma_r_nm"] + 2 * GAP_NM + rb)
                Pz = C[2] - dvec[2] * (rb + GAP_NM)
                if np.any(C < margin + rb) or np.any(C > world - margin - rb) or not 280 < Pz < world[2] - 280:
                    continue
                if not grid.free(C, rb, margin=40.0, ignore=(("soma", c["root"]),)):
                    continue
                grid.add(C, rb, tag=("bouton", len(boutons) + 1))
                make_bouton(nrn, C, rb, [-dvec], [c["root"]], peri_cell=c)
                c["n_perisomatic"] += 1
                break

    # ---- mitochondria
    mclasses = list(p["mito_classes"])
    mw = np.array([p["mito_classes"][m]["weight"] for m in mclasses])
    mw /= mw.sum()
    mitos = []
    grid_m = _Grid(900.0)
    dend = np.where((segments["r"] >= 150) & (segments["root"] >= CELL_ROOT0) & (segments["root"] < PRE_ROOT0)
                    & np.isin(segments["root"], [c["root"] for c in neuron_cells]))[0]
    tries = 0
    mc = None
    while len(mitos) < p["n_mitos"] and tries < p["n_mitos"] * 60:
        tries += 1
        if mc is None:  # a drawn class is retried until placed, so that classes keep their weights
            mc = mclasses[len(mitos) % len(mclasses)] if len(mitos) < 2 * len(mclasses) else \
                mclasses[rng.choice(len(mclasses), p=mw)]
        mp = p["mito_classes"][mc]
        r = rng.uniform(*mp["r_nm"])
        L = rng.uniform(*mp["length_nm"])
        in_soma = (rng.random() < 0.4 and cells) or len(dend) == 0
        if in_soma:
            c = cells[rng.integers(len(cells))]
            nc = np.array(c["nucleus_center_nm"])
            ext = max(c["nucleus_radii_nm"]) + np.linalg.norm(nc - np.array(c["center_nm"]))
            room = c["soma_r_nm"] - ext
            if room < 2 * r + 30:
                continue
            dvec = _random_dirs(rng, 1, 0.4)[0]
            ctr = np.array(c["center_nm"]) + dvec * (ext + room / 2)
            u, v = _perp_basis(dvec)
            axis = u
            parent = c["root"]
            L = min(L, 2 * room + 150) if mc == "tubular" else L
        else:
            s_ = dend[rng.integers(len(dend))]
            if segments["r"][s_] < r * 1.7:
                continue
            t_ = rng.random()
            ctr = segments["p0"][s_] * (1 - t_) + segments["p1"][s_] * t_
            axis = _unit(segments["p1"][s_] - segments["p0"][s_])
            parent = int(segments["root"][s_])
            u, v = _perp_basis(axis)
        ext_m = r + L / 2 + (L if mc == "branched" else 0)
        if np.any(ctr < 60) or np.any(ctr > world - 60):
            continue
        if not grid_m.free(ctr, ext_m, margin=40.0) or not grid.free(ctr, ext_m, margin=20.0,
                                                                     ignore=(("soma", parent),)):
            continue
        grid_m.add(ctr, ext_m)
        if mc == "branched":
            caps = []
            for ang in (0.0, 2.1, 4.2):
                dd = math.cos(ang) * axis + math.sin(ang) * v
                caps.append((ctr.tolist(), (ctr + dd * L).tolist(), float(r)))
        elif mc in ("round", "swollen"):
            caps = [((ctr - axis * L / 2).tolist(), (ctr + axis * L / 2).tolist(), float(r))]
        else:
            caps = [((ctr - axis * L / 2).tolist(), (ctr + axis * L / 2).tolist(), float(r))]
        mitos.append(dict(id=len(mitos) + 1, root=parent, mito_class=mc, center_nm=ctr.tolist(), capsules=caps,
                          cristae_axis=axis.tolist(), cristae_period_nm=float(mp["cristae_period_nm"]
                                                                             * rng.uniform(0.9, 1.1)),
                          cristae_contrast=float(mp["cristae_contrast"]), matrix=float(mp["matrix"]),
                          cristae_phase=float(rng.uniform(0, 2 * np.pi))))
        mc = None

    # ---- per-object brightness (grey-level offsets)
    brightness = {}
    for nrn in neurons:
        brightness[nrn["root"]] = nrn["brightness"]
    for c in cells:
        brightness[c["root"]] = c["cyto"]
    return dict(world_nm=world.tolist(), soma_y_nm=float(soma_y), neurons=neurons, cells=cells,
                segments=segments, boutons=boutons, synapses=synapses, mitos=mitos, brightness=brightness,
                nt_effective={c: dict(zip(keys, eff[i].tolist())) for i, c in enumerate(nt_names)})
