"""Rasterise one block (a column of storage chunks) of the synthetic world: labels and EM-like image.

Geometry: neurite, soma and synaptic-site "cores" are stamped at mip-1 resolution (16x16x40 nm) and every other
voxel goes to its nearest core (a Voronoi / nearest-seed partition by Euclidean distance transform, scipy's
``distance_transform_edt(return_indices=True)``), which packs the neuropil densely as in real EM, with no empty
space. Cores are computed on the block plus a halo, from the global layout, so blocks agree at their borders.
Organelles (nuclei, mitochondria, vesicle clouds, clefts) are analytic shapes evaluated at mip 0 and clipped to
their parent object.

Image formation (grey levels in :data:`emkit.synth.params.LOOK`): per-object cytoplasm brightness, smooth texture
(> ~150 nm), a band-pass interior texture (difference of Gaussians of white noise, 12-64 nm, independent per section;
also, weaker, in nuclei, mitochondria and membranes), fine grain, organelles, dark membranes at label boundaries
(x-y) and weaker ones between sections (oblique membranes), explicit synaptic profiles (pre membrane, cleft, post
membrane, PSD, T-bar), a global contrast stretch and per-section brightness/contrast drift, Gaussian blur, Gaussian
noise, occasional missing / shifted sections. Every random field is a hash of global voxel coordinates and the seed
(or, for the additive noise, seeded per block), so blocks join without seams and the bytes do not depend on the
order in which blocks are rendered. The look was fitted with :mod:`emkit.synth.realism` against SNEMI3D (Kasthuri
et al. 2015) and the Drosophila VNC ssTEM stack (Cardona et al. 2010).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .layout import GAP_NM

HALO1 = 32  # mip-1 voxels of geometry halo (512 nm) around a block, for a seam-free Voronoi
HALO0 = 16  # mip-0 voxels of image halo (blur + section shifts)
TEX_MARGIN = 32  # mip-0 voxels of extra noise margin for the wide Gaussian of the band-pass texture (multiple of 4)
TEX_SIGMA_PX = (1.5, 8.0)  # difference-of-Gaussians sigmas of the band-pass texture (mip-0 px)


def _hash_u01(*ints):
    """Deterministic uniform [0, 1) from integer arrays (a splitmix64-style hash; our own so that values depend
    only on global coordinates, which keeps blocks seam-free and the bytes independent of block order)."""
    with np.errstate(over="ignore"):
        h = np.uint64(0x9E3779B97F4A7C15)
        for v in ints:
            h = (h ^ np.asarray(v).astype(np.uint64)) * np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(29)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _up4(c, H, M):
    """Linear interpolation of coarse cells (Z, m, m) (cell k covers fine pixels 4k..4k+3 of a grid that starts M
    fine pixels before the window) to the window's fine pixels (Z, H, H); exact on the global grid (no seams)."""
    t = (np.arange(H) + M - 1.5) / 4.0  # coarse cell centres sit at fine coordinate 4k + 1.5
    k0 = np.floor(t).astype(int)
    a = (t - k0).astype(np.float32)
    c = c[:, k0] * (1 - a)[None, :, None] + c[:, k0 + 1] * a[None, :, None]
    return c[:, :, k0] * (1 - a)[None, None, :] + c[:, :, k0 + 1] * a[None, None, :]


class BlockRenderer:
    """Renders blocks of one world. Build once per world; call :meth:`render` per block.

    Parameters
    ----------
    p : dict
        World parameters (:func:`emkit.synth.params.world_params`).
    layout : dict
        :func:`emkit.synth.layout.make_layout` output.
    """

    def __init__(self, p: dict, layout: dict):
        self.p = p
        self.L = layout
        self.vs = np.array(p["voxel_size_nm"], float)
        self.Z = p["z_sections"]
        self.B = p["block_xy_vox"]
        seg = layout["segments"]
        self.seg_lo = np.minimum(seg["p0"], seg["p1"]) - seg["r"][:, None]
        self.seg_hi = np.maximum(seg["p0"], seg["p1"]) + seg["r"][:, None]
        rng = np.random.default_rng([p["seed"], 2])
        nu = p["nuisance"]
        Z = self.Z
        self.gain = np.exp(rng.normal(0, nu["section_contrast_sd"], Z))
        self.offset = rng.normal(0, nu["section_brightness_sd"], Z)
        self.missing = rng.random(Z) < nu["missing_section_rate"]
        shifted = (rng.random(Z) < nu["shifted_section_rate"]) & ~self.missing
        m = int(nu["shift_max_px"])
        self.shift = np.where(shifted[:, None], rng.integers(-m, m + 1, (Z, 2)), 0)
        self.cells = layout["cells"]
        self.cell_lo = np.array([np.array(c["center_nm"]) - c["soma_r_nm"] * 1.7 for c in self.cells]).reshape(-1, 3)
        self.cell_hi = np.array([np.array(c["center_nm"]) + c["soma_r_nm"] * 1.7 for c in self.cells]).reshape(-1, 3)
        self.bout = layout["boutons"]
        self.syn = layout["synapses"]
        self.mitos = layout["mitos"]
        self.syn_by_bouton: dict = {}
        for s in self.syn:
            self.syn_by_bouton.setdefault(s["bouton"], []).append(s)
        self.ves_cache: dict = {}
        # centres as arrays (nm), to select the objects near a block without a Python loop over all of them
        self.bout_c = np.array([b["center_nm"] for b in self.bout], float).reshape(-1, 3)
        self.cloud_c = np.array([b["cloud_center_nm"] for b in self.bout], float).reshape(-1, 3)
        self.syn_c = np.array([s["ctr_nm"] for s in self.syn], float).reshape(-1, 3)
        # unit-s.d. normalisation of the noise textures (analytic for white noise of variance 1/12; 2-D Gaussians:
        # sum of g^2 = 1 / (4 pi s^2), cross term of two = 1 / (2 pi (s1^2 + s2^2)))
        v = 1.0 / 12.0
        s1, s2 = TEX_SIGMA_PX
        self._sd_grain = 1.0 / math.sqrt(v / (4 * math.pi))
        self._sd_band = 1.0 / math.sqrt(v * (1 / (4 * math.pi * s1 ** 2) + 1 / (4 * math.pi * s2 ** 2)
                                             - 2 / (2 * math.pi * (s1 ** 2 + s2 ** 2))))

    # ------------------------------------------------------------------ geometry
    def _stamp_points(self, arr, pts_vox, rad_vox, lab):
        """Stamp ellipsoids (radii in voxels (rz, ry, rx)) of label ``lab`` at ``pts_vox`` (N, 3) (z, y, x).

        Later points overwrite earlier ones. Voxels outside ``arr`` are dropped: stamping goes into a copy padded by
        the largest reach, with flat indices, which is cheaper than a bounds check per stamped voxel."""
        if len(pts_vox) == 0:
            return
        rq = np.maximum(np.round(rad_vox * 2) / 2, 0.5)  # quantise radii to half voxels
        keys, inv = np.unique(rq, axis=0, return_inverse=True)
        inv = inv.ravel()
        shape = np.array(arr.shape)
        c_all = np.round(pts_vox).astype(np.int64)
        e_max = np.floor(keys.max(0)).astype(np.int64)
        lo_pad = np.maximum(0, e_max - c_all.min(0))
        hi_pad = np.maximum(0, c_all.max(0) + e_max - (shape - 1))
        buf = np.zeros(tuple(shape + lo_pad + hi_pad), arr.dtype)
        inner = tuple(slice(a, a + n) for a, n in zip(lo_pad, shape))
        buf[inner] = arr
        strides = np.array([buf.shape[1] * buf.shape[2], buf.shape[2], 1], np.int64)
        cflat_all = (c_all + lo_pad) @ strides
        flat_buf = buf.reshape(-1)
        for k, (rz, ry, rx) in enumerate(keys):
            sel = np.where(inv == k)[0]
            ez, ey, ex = int(math.floor(rz)), int(math.floor(ry)), int(math.floor(rx))
            oz, oy, ox = np.mgrid[-ez:ez + 1, -ey:ey + 1, -ex:ex + 1]
            inside = (oz / max(rz, 0.5)) ** 2 + (oy / ry) ** 2 + (ox / rx) ** 2 <= 1.0
            off = np.stack([oz[inside], oy[inside], ox[inside]], 1) @ strides
            cf, lb = cflat_all[sel], lab[sel].astype(np.int64)
            # points sampled every 12 nm along a segment often round to the same voxel: drop repeats of (centre,
            # label), keeping each one's last occurrence in the original order (later stamps win, as before)
            key = (cf << np.int64(24)) + lb
            _, first = np.unique(key[::-1], return_index=True)
            keep = np.sort(len(key) - 1 - first)
            cf, lb = cf[keep], lb[keep]
            flat_buf[(cf[:, None] + off[None]).ravel()] = np.repeat(lb, len(off)).astype(arr.dtype)
        arr[...] = buf[inner]

    def _geometry(self, bx, by):
        """Cells-layer labels at mip 0 on the block plus HALO0, as local indices into ``roots``."""
        B, Z, vs = self.B, self.Z, self.vs
        vs1 = vs * np.array([2, 2, 1])
        x1, y1 = bx * B // 2 - HALO1, by * B // 2 - HALO1
        W = B // 2 + 2 * HALO1
        seeds = np.zeros((Z, W, W), np.int32)
        lo = np.array([x1, y1, 0]) * vs1 - 50
        hi = np.array([x1 + W, y1 + W, Z]) * vs1 + 50
        roots: list = [0]
        rid: dict = {0: 0}

        def local(root):
            root = int(root)
            if root not in rid:
                rid[root] = len(roots)
                roots.append(root)
            return rid[root]

        seg = self.L["segments"]
        sel = np.where(np.all(self.seg_hi > lo, 1) & np.all(self.seg_lo < hi, 1))[0]
        if len(sel):
            p0, p1, r, rt = seg["p0"][sel], seg["p1"][sel], seg["r"][sel], seg["root"][sel]
            n = np.maximum(np.ceil(np.linalg.norm(p1 - p0, axis=1) / 12.0).astype(int), 1)
            t = np.concatenate([np.arange(k) / k for k in n])
            rep = np.repeat(np.arange(len(sel)), n)
            pts = p0[rep] + (p1[rep] - p0[rep]) * t[:, None]
            core = 0.75 * r[rep]
            pv = (pts / vs1 - np.array([x1, y1, 0]))[:, ::-1]  # (z, y, x) local voxels
            rad = np.stack([core / vs1[2], core / vs1[1], core / vs1[0]], 1)
            labs = np.array([local(x) for x in rt], np.int32)[rep]
            keep = np.all((pv > -10) & (pv < np.array([Z, W, W]) + 10), 1)
            self._stamp_points(seeds, pv[keep], rad[keep], labs[keep])

        def stamp_sphere(c_nm, r_nm, lab):
            c = (np.asarray(c_nm) / vs1 - np.array([x1, y1, 0]))[::-1]
            rv = r_nm / vs1[::-1]
            lo_ = np.maximum(np.floor(c - rv).astype(int), 0)
            hi_ = np.minimum(np.ceil(c + rv).astype(int) + 1, [Z, W, W])
            if np.any(hi_ <= lo_):
                return
            zz, yy, xx = np.ogrid[lo_[0]:hi_[0], lo_[1]:hi_[1], lo_[2]:hi_[2]]
            m = ((zz - c[0]) / rv[0]) ** 2 + ((yy - c[1]) / rv[1]) ** 2 + ((xx - c[2]) / rv[2]) ** 2 <= 1
            seeds[lo_[0]:hi_[0], lo_[1]:hi_[1], lo_[2]:hi_[2]][m] = lab

        for i in np.where(np.all(self.cell_hi > lo, 1) & np.all(self.cell_lo < hi, 1))[0]:
            c = self.cells[i]
            lab = local(c["root"])
            stamp_sphere(c["center_nm"], c["soma_r_nm"], lab)
            for lb in c["lobes_nm"]:
                stamp_sphere(lb, c["lobe_r_nm"], lab)
        bc = self.bout_c
        near = [self.bout[i] for i in np.where(np.all(bc + 800 > lo, 1) & np.all(bc - 800 < hi, 1))[0]]
        for b in near:  # clear other cores around each contact point, so that only the partners meet there
            for s in self.syn_by_bouton[b["id"]]:
                if s["spine_r_nm"] > 0:  # perisomatic contacts: the soma core already reaches the contact
                    stamp_sphere(s["ctr_nm"], 80.0, 0)
        for b in near:
            stamp_sphere(b["center_nm"], b["r_nm"], local(b["root"]))
            for s in self.syn_by_bouton[b["id"]]:
                if s["spine_r_nm"] > 0:
                    stamp_sphere(s["spine_center_nm"], s["spine_r_nm"], local(s["post_root"]))
        if seeds.max() == 0:
            seeds[0, 0, 0] = local(1)
        idx = ndimage.distance_transform_edt(seeds == 0, sampling=(vs1[2], vs1[1], vs1[0]),
                                             return_distances=False, return_indices=True)
        lab1 = seeds[idx[0], idx[1], idx[2]]
        # crop to the image window (block + HALO0 at mip 0) and upsample 2x2 in x, y (nearest)
        h = HALO1 - HALO0 // 2
        lab1 = lab1[:, h:W - h, h:W - h]
        lab0 = np.repeat(np.repeat(lab1, 2, axis=1), 2, axis=2)
        return lab0, np.array(roots, np.uint64)

    # ------------------------------------------------------------------ image
    def _white(self, oy, ox, n):
        """Zero-mean uniform white noise (Z, n, n) on the global mip-0 grid from (oy, ox); depends only on global
        coordinates and the seed, so that neighbouring blocks see the same field."""
        # same splitmix64-style mixing as _hash_u01 on one combined key per voxel, in place and straight to float32
        # (the noise fields are the largest arrays of a block)
        z = np.arange(self.Z, dtype=np.int64)[:, None, None]
        y = (np.arange(n, dtype=np.int64) + oy)[None, :, None]  # may be negative at the world border: it wraps
        x = (np.arange(n, dtype=np.int64) + ox)[None, None, :]
        with np.errstate(over="ignore"):
            zy = ((z << np.int64(42)) + ((y & np.int64(0x1FFFFF)) << np.int64(21))).astype(np.uint64)
            h = zy + (x & np.int64(0x1FFFFF)).astype(np.uint64)  # (Z, n, n)
            h ^= np.uint64((int(self.p["seed"]) * 0x9E3779B97F4A7C15 + 12) & 0xFFFFFFFFFFFFFFFF)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(29)
            h >>= np.uint64(40)
        w = h.astype(np.float32)
        w *= np.float32(1.0 / (1 << 24))
        w -= np.float32(0.5)
        return w

    def _noise_textures(self, oy, ox, H):
        """Fine grain and band-pass texture of the window (Z, H, H) at mip-0 origin (oy, ox), each of unit s.d.

        The band-pass field is a difference of Gaussians (sigma ``TEX_SIGMA_PX`` = 1.5 and 8 px, i.e. wavelengths
        ~12-64 nm at 8 nm pixels) of white noise drawn independently per section: the cytoplasmic texture of real
        EM (ribosomes, cytoskeleton, small membrane profiles) that a smooth lattice lacks (realism measurements
        against SNEMI3D, Kasthuri et al. 2015). The wide Gaussian is evaluated on a 4x coarser grid (4x4 means of
        the same noise, sigma 2 coarse px) and linearly interpolated back, which is ~20x cheaper than a 49-tap
        filter at full resolution; the coarse grid is aligned to global multiples of 4 px and computed with a
        margin, so the field is seam-free across blocks. The fine grain is a sigma-1 px Gaussian of the same noise.
        """
        M, f = TEX_MARGIN, 4
        n = H + 2 * M
        w = self._white(oy - M, ox - M, n)  # (Z, n, n); origin a multiple of 4 (oy, ox, M are)
        core = w[:, M:M + H, M:M + H]
        grain = ndimage.gaussian_filter(core, (0, 1.0, 1.0), truncate=3.0) * np.float32(self._sd_grain)
        narrow = ndimage.gaussian_filter(core, (0, TEX_SIGMA_PX[0], TEX_SIGMA_PX[0]), truncate=3.0)
        Z = w.shape[0]
        c = w.reshape(Z, n // f, f, n // f, f).mean((2, 4))  # (Z, n/4, n/4) coarse cells
        c = ndimage.gaussian_filter(c, (0, TEX_SIGMA_PX[1] / f, TEX_SIGMA_PX[1] / f), truncate=3.0)
        wide = _up4(c, H, M)
        band = (narrow - wide) * np.float32(self._sd_band)
        # smooth texture (> ~150 nm): a hashed lattice of 4x4-px cells, Gaussian sigma 0.75 cells (= 3 px), interpolated
        gy = (np.arange(n // f) + (oy - M) // f)[None, :, None]
        gx = (np.arange(n // f) + (ox - M) // f)[None, None, :]
        lat = _hash_u01(self.p["seed"], 11, np.arange(Z)[:, None, None], gy, gx).astype(np.float32)
        smooth = _up4(ndimage.gaussian_filter(lat, (0, 0.75, 0.75), truncate=4.0) - np.float32(0.5), H, M)
        return grain, band, smooth

    def render(self, bx: int, by: int, stats: dict | None = None):
        """Render block (bx, by).

        Returns
        -------
        dict of arrays (Z, B, B) in (z, y, x) order: ``em`` uint8, ``cells``, ``nuclei``, ``mitochondria``,
        ``vesicles``, ``clefts`` uint64.
        ``stats`` (optional dict) is updated with per-object voxel counts and anchor voxels for the tables.
        """
        p, look, vs, Z, B = self.p, self.p["look"], self.vs, self.Z, self.B
        lab, roots = self._geometry(bx, by)
        H = B + 2 * HALO0
        ox, oy = bx * B - HALO0, by * B - HALO0  # global mip-0 voxel index of the window origin
        seed = p["seed"]
        # per-object cytoplasm brightness
        bright = self.L["brightness"]
        lut = np.array([look["cytoplasm"] + look["cytoplasm_sd"] * (2 * _hash_u01(seed, int(r), 5) - 1) * 1.7
                        + bright.get(int(r), 0.0) for r in roots], np.float32)
        img = lut[lab]
        # smooth texture (> ~150 nm), fine granular texture (ribosomes, cytoskeleton, ~10 nm) and the band-pass
        # interior texture (12-64 nm), all on global coordinates (seam-free)
        grain, band, smooth = self._noise_textures(oy, ox, H)
        img += look["texture_sd"] * 3.4 * smooth
        img += look["grain_sd"] * grain
        img += look["texture_bp_sd"] * band
        nuc = np.zeros(lab.shape, np.uint64)
        mit = np.zeros(lab.shape, np.uint64)
        ves = np.zeros(lab.shape, np.uint64)
        clf = np.zeros(lab.shape, np.uint64)
        rloc = {int(r): i for i, r in enumerate(roots)}
        win_lo = np.array([ox, oy, 0]) * vs
        win_hi = np.array([ox + H, oy + H, Z]) * vs

        def box(c_nm, ext_nm):
            """Window-local voxel box around c_nm +- ext_nm (nm): slices and nm coordinate grids, or None."""
            c = np.asarray(c_nm, float)
            lo_ = np.maximum(np.floor((c - ext_nm) / vs).astype(int) - np.array([ox, oy, 0]), 0)
            hi_ = np.minimum(np.ceil((c + ext_nm) / vs).astype(int) + 1 - np.array([ox, oy, 0]), [H, H, Z])
            if np.any(hi_ <= lo_):
                return None
            sl = (slice(lo_[2], hi_[2]), slice(lo_[1], hi_[1]), slice(lo_[0], hi_[0]))
            gz = (np.arange(lo_[2], hi_[2]) * vs[2])[:, None, None] - c[2]
            gy_ = ((np.arange(lo_[1], hi_[1]) + oy) * vs[1])[None, :, None] - c[1]
            gx_ = ((np.arange(lo_[0], hi_[0]) + ox) * vs[0])[None, None, :] - c[0]
            return sl, gx_, gy_, gz

        # ---- nuclei
        for c in self.cells:
            rad = np.array(c["nucleus_radii_nm"])
            bb = box(c["nucleus_center_nm"], np.full(3, rad.max() + 30))
            if bb is None or c["root"] not in rloc:
                continue
            sl, dx, dy, dz = bb
            R = np.array(c["nucleus_rot"])
            q = [(R[0, k] * dx + R[1, k] * dy + R[2, k] * dz) / rad[k] for k in range(3)]
            rho = np.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2) + 1e-9
            surf = np.ones_like(rho)
            if c["n_folds"]:
                phi = np.arctan2(q[1], q[0])
                fold = np.maximum(np.cos(c["n_folds"] * phi + c["fold_phase"]), 0) ** 12
                surf = surf - c["fold_depth"] * fold * np.clip(1 - np.abs(q[2] / rho) * 1.2, 0, 1)
            own = lab[sl] == rloc[c["root"]]
            inside = (rho < surf) & own
            nuc[sl][inside] = c["id"]
            sub = img[sl]
            rmean = float(rad.mean())
            tex = (np.sin(dx / 37.0 + c["fold_phase"]) * np.sin(dy / 41.0 + 1.3) * np.sin(dz / 53.0 + c["id"])
                   + 0.6 * np.sin((dx + dy) / 23.0 - c["id"]) * np.sin((dy - dz) / 29.0))
            het = inside & ((tex > 1.0 - 1.4 * c["heterochromatin"]) | ((rho > surf - 70.0 / rmean)
                                                                          & (tex > 0.2 - c["heterochromatin"])))
            # nucleoplasm is granular too (chromatin): the band-pass texture, slightly weaker than in the cytoplasm
            sub[inside] = look["nucleoplasm"] + (0.8 * look["texture_bp_sd"]) * band[sl][inside]
            sub[het] = look["heterochromatin"] + 10 * tex[het]
            nl = np.array(c["nucleolus_offset"])
            dn = np.sqrt((q[0] - nl[0]) ** 2 + (q[1] - nl[1]) ** 2 + (q[2] - nl[2]) ** 2)
            sub[inside & (dn < 0.24)] = look["nucleolus"]
            env = own & (np.abs(rho - surf) * rmean < 11.0)
            sub[env] = look["envelope"]
            if stats is not None:
                self._count(stats, "nuclei", c["id"], inside, sl, ox, oy)
        # ---- mitochondria
        for m in self.mitos:
            if m["root"] not in rloc:
                continue
            caps = m["capsules"]
            pts = np.array([c[0] for c in caps] + [c[1] for c in caps])
            r = caps[0][2]
            ctr = pts.mean(0)
            ext = np.abs(pts - ctr).max(0) + r + 20
            bb = box(ctr, ext)
            if bb is None:
                continue
            sl, dx, dy, dz = bb
            dmin = None
            tpos = None
            for a, b_, rr in caps:
                a, b_ = np.array(a) - ctr, np.array(b_) - ctr
                ab = b_ - a
                L2 = max(float(ab @ ab), 1e-9)
                t = np.clip(((dx - a[0]) * ab[0] + (dy - a[1]) * ab[1] + (dz - a[2]) * ab[2]) / L2, 0, 1)
                dd = np.sqrt((dx - a[0] - t * ab[0]) ** 2 + (dy - a[1] - t * ab[1]) ** 2 + (dz - a[2] - t * ab[2]) ** 2)
                tt = t * math.sqrt(L2) if L2 > 1e-3 else dx * 0 + dy * 0 + dz * 0
                if dmin is None:
                    dmin, tpos = dd, tt
                else:
                    closer = dd < dmin
                    dmin, tpos = np.where(closer, dd, dmin), np.where(closer, tt, tpos)
            own = lab[sl] == rloc[m["root"]]
            inside = (dmin < r) & own
            if not inside.any():
                continue
            mit[sl][inside] = m["id"]
            ax = np.array(m["cristae_axis"])
            proj = tpos if len(caps) > 1 or np.linalg.norm(np.array(caps[0][1]) - caps[0][0]) > 60 else \
                dx * ax[0] + dy * ax[1] + dz * ax[2]
            stripes = np.sin(2 * np.pi * proj / m["cristae_period_nm"] + m["cristae_phase"]) > 0.35
            sub = img[sl]
            val = np.where(stripes & (dmin < r - 14), look["mito_matrix"] + m["matrix"]
                           + m["cristae_contrast"] * (look["mito_cristae"] - look["mito_matrix"]),
                           look["mito_matrix"] + m["matrix"])
            val = np.where(dmin > r - 11, look["mito_membrane"], val)
            # a weak share of the interior texture, so that the matrix is not perfectly flat (cristae stay visible)
            sub[inside] = (np.broadcast_to(val, inside.shape)[inside]
                           + (0.35 * look["texture_bp_sd"]) * band[sl][inside])
            if stats is not None:
                self._count(stats, "mitochondria", m["id"], inside, sl, ox, oy, anchor=m["center_nm"])
        # ---- vesicle clouds and vesicles
        cc = self.cloud_c
        for i in np.where(np.all(cc + 400 > win_lo, 1) & np.all(cc - 400 < win_hi, 1))[0]:
            b = self.bout[i]
            C = cc[i]
            if b["root"] not in rloc:
                continue
            rc = b["cloud_r_nm"]
            bb = box(C, np.full(3, rc + 60))
            if bb is None:
                continue
            sl, dx, dy, dz = bb
            own = lab[sl] == rloc[b["root"]]
            incl = own & (dx ** 2 + dy ** 2 + dz ** 2 < rc ** 2)
            ves[sl][incl] = b["id"]
            self._vesicles(b, img, lab, rloc[b["root"]], ox, oy, look)
            if stats is not None:
                self._count(stats, "vesicles", b["id"], incl, sl, ox, oy)
        # ---- membranes at label boundaries
        bxy = np.zeros(lab.shape, bool)
        d = lab[:, 1:, :] != lab[:, :-1, :]
        bxy[:, 1:, :] |= d
        bxy[:, :-1, :] |= d
        d = lab[:, :, 1:] != lab[:, :, :-1]
        bxy[:, :, 1:] |= d
        bxy[:, :, :-1] |= d
        bz = np.zeros(lab.shape, bool)
        d = lab[1:] != lab[:-1]
        bz[1:] |= d
        bz[:-1] |= d
        mz = look["membrane_z"]
        img = np.where(bz & ~bxy, img * (1 - mz) + look["membrane"] * mz, img)
        # membranes carry part of the interior texture (stain and section-thickness variation), so they are not a
        # single grey level (a spike in the histogram)
        img[bxy] = look["membrane"] + (0.5 * look["texture_bp_sd"]) * band[bxy]
        # ---- synaptic contacts: pre membrane, cleft, post membrane, PSD, T-bar
        sc = self.syn_c
        for i in np.where(np.all(sc + 300 > win_lo, 1) & np.all(sc - 300 < win_hi, 1))[0]:
            s = self.syn[i]
            P = sc[i]
            R = s["disk_r_nm"]
            bb = box(P, np.full(3, R + s["psd_nm"] + 80))
            if bb is None:
                continue
            sl, dx, dy, dz = bb
            n = np.array(s["normal"])
            sd = dx * n[0] + dy * n[1] + dz * n[2]
            rho = np.sqrt(np.maximum(dx ** 2 + dy ** 2 + dz ** 2 - sd ** 2, 0))
            hh = 0.5 * float(np.abs(n) @ vs)  # half extent of a voxel along n
            w = s["cleft_nm"] / 2
            pre, post = rloc.get(s["pre_root"], -1), rloc.get(s["post_root"], -1)
            L_ = lab[sl]
            prepost = (L_ == pre) | (L_ == post)
            disk = rho < R
            cl = disk & prepost & (np.abs(sd) <= max(w, hh))
            clf[sl][cl] = s["id"]
            sub = img[sl]
            region = disk & (np.abs(sd) < w + 12 + hh + s["psd_nm"] + 40) & prepost
            sub[region & (np.abs(sd) <= w + hh * 0.5)] = look["cleft"]
            memb = region & (np.abs(np.abs(sd) - w - 3.5) <= 3.5 + hh * 0.5)
            sub[memb] = look["membrane"]
            psd = region & (sd > w) & (sd < w + 7 + s["psd_nm"] + hh * 0.5) & (rho < 0.92 * R) & ~memb
            if psd.any():  # fuzzy: darkest at the membrane, fading into the spine
                f = np.clip((sd[psd] - w - 7) / (s["psd_nm"] + hh * 0.5), 0, 1)
                sub[psd] = look["psd"] + f * (look["cytoplasm"] - look["psd"]) * 0.6
            tb = region & (sd < -w - 7) & (sd > -w - 7 - 60 * s["tbar"] - hh * 0.5) & (rho < 0.25 * R)
            sub[tb] = look["tbar"]
            if stats is not None:
                self._count(stats, "clefts", s["id"], cl, sl, ox, oy)
        # ---- section drift, blur, noise, artefacts
        # global contrast stretch about a fixed pivot and per-section drift (fixed constants: no per-block statistics,
        # so blocks join without seams)
        piv = float(look["contrast_pivot"])
        g = (self.gain * look["contrast"]).astype(np.float32)[:, None, None]
        img = (img - piv) * g + np.float32(piv) + self.offset.astype(np.float32)[:, None, None]
        img = ndimage.gaussian_filter(img, (0, look["blur_sigma_px"], look["blur_sigma_px"]), truncate=3.0)
        rng = np.random.default_rng([seed, 3, bx, by])
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(look["noise_sd"])
        if look["gamma"] != 1.0:
            img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** look["gamma"]
        h = HALO0
        out_img = np.empty((Z, B, B), np.uint8)
        for z in range(Z):
            sx, sy = self.shift[z]
            sec = img[z, h - sy:h - sy + B, h - sx:h - sx + B]
            out_img[z] = 0 if self.missing[z] else np.clip(np.round(sec), 0, 255).astype(np.uint8)
        crop = (slice(None), slice(h, h + B), slice(h, h + B))
        return dict(em=out_img, cells=roots[lab[crop]], nuclei=nuc[crop], mitochondria=mit[crop],
                    vesicles=ves[crop], clefts=clf[crop])

    def _count(self, stats, layer, oid, mask, sl, ox, oy, anchor=None):
        """Accumulate voxel counts (interior of the block only) and an anchor voxel per object."""
        h, B = HALO0, self.B
        z0, y0, x0 = sl[0].start, sl[1].start, sl[2].start
        zz, yy, xx = np.nonzero(mask)
        yy, xx = yy + y0, xx + x0
        keep = (yy >= h) & (yy < h + B) & (xx >= h) & (xx < h + B)
        if not keep.any():
            return
        zz, yy, xx = zz[keep] + z0, yy[keep] + oy, xx[keep] + ox
        d = stats.setdefault(layer, {})
        e = d.setdefault(oid, dict(n=0, sum=np.zeros(3), anchor=None, best=np.inf))
        e["n"] += len(zz)
        e["sum"] += [xx.sum(), yy.sum(), zz.sum()]
        if anchor is not None:
            v = np.stack([xx, yy, zz], 1)
            dist = np.sum(((v * self.vs) - np.asarray(anchor)) ** 2, 1)
            j = int(np.argmin(dist))
            if dist[j] < e["best"]:
                e["best"], e["anchor"] = float(dist[j]), v[j].tolist()

    def _vesicle_list(self, b):
        """Vesicles of bouton ``b``: (N, 3) centres nm, (N,) radius nm, (N,) aspect, (N,) angle, (N,) dense-core."""
        if b["id"] in self.ves_cache:
            return self.ves_cache[b["id"]]
        rng = np.random.default_rng([self.p["seed"], 4, b["id"]])
        q = b["params"]
        rc = b["cloud_r_nm"]
        d = q["ves_diam_nm"]
        a = 1000.0 * (1.0 / max(q["ves_density"], 1.0)) ** (1 / 3)  # lattice spacing nm
        a = max(a, d * 1.05)
        k = int(math.ceil(rc / a)) + 1
        g = np.stack(np.meshgrid(*[np.arange(-k, k + 1)] * 3, indexing="ij"), -1).reshape(-1, 3) * a
        Q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
        g = g @ Q + rng.uniform(-(a - d) / 2, (a - d) / 2, g.shape) * 0.95
        g = g[np.sum(g ** 2, 1) < rc ** 2]
        g = g[rng.random(len(g)) < 0.85]
        n = len(g)
        rad = np.full(n, d / 2) * np.exp(rng.normal(0, 0.08, n))
        asp = np.clip(q["ves_aspect"] * np.exp(rng.normal(0, 0.1, n)), 0.35, 1.0)
        ang = rng.uniform(0, np.pi, n)
        ndcv = int(rng.binomial(max(n, 1), min(q["dcv_frac"], 1.0)))
        dense = np.zeros(n, bool)
        if ndcv:
            j = rng.choice(n, size=min(ndcv, n), replace=False)
            dense[j] = True
            rad[j] = q["dcv_diam_nm"] / 2 * np.exp(rng.normal(0, 0.1, len(j)))
            asp[j] = 1.0
        out = (g + np.array(b["cloud_center_nm"]), rad, asp, ang, dense)
        self.ves_cache[b["id"]] = out
        return out

    def _vesicles(self, b, img, lab, own_id, ox, oy, look):
        """Draw bouton ``b``'s vesicles into ``img`` (window), clipped to the bouton's voxels (``lab == own_id``)."""
        c, rad, asp, ang, dense = self._vesicle_list(b)
        if len(c) == 0:
            return
        vs = self.vs
        Z, H = img.shape[0], img.shape[1]
        zs = np.arange(Z) * vs[2]
        # a vesicle shows in every section whose 40-nm slab it intersects (projection through the section)
        dz = np.abs(c[:, 2][:, None] - zs[None, :]) - vs[2] / 2
        ra = np.sqrt(np.maximum(rad[:, None] ** 2 - np.maximum(dz, 0) ** 2, 0))
        vi, zi = np.nonzero(ra > 6.0)
        if len(vi) == 0:
            return
        r_app = ra[vi, zi]
        rmax = int(math.ceil(rad.max() / vs[0])) + 1
        oyy, oxx = np.mgrid[-rmax:rmax + 1, -rmax:rmax + 1]
        oyy, oxx = oyy.ravel(), oxx.ravel()
        cx = c[vi, 0] / vs[0] - ox
        cy = c[vi, 1] / vs[1] - oy
        ix = np.round(cx).astype(int)[:, None] + oxx[None]
        iy = np.round(cy).astype(int)[:, None] + oyy[None]
        fx = (ix - cx[:, None]) * vs[0]
        fy = (iy - cy[:, None]) * vs[1]
        ca, sa = np.cos(ang[vi])[:, None], np.sin(ang[vi])[:, None]
        u = (fx * ca + fy * sa)
        v = (-fx * sa + fy * ca) / asp[vi][:, None]
        rr = np.sqrt(u ** 2 + v ** 2)
        R = r_app[:, None]
        core = np.where(dense[vi][:, None] & (rr < 0.62 * R), look["dcv_core"], look["vesicle_lumen"])
        val = np.where(rr < R - 8.0, core, look["vesicle_membrane"])
        hit = (rr < R) & (ix >= 0) & (ix < H) & (iy >= 0) & (iy < H)
        zz = np.broadcast_to(zi[:, None], hit.shape)[hit]
        yy, xx, val = iy[hit], ix[hit], val[hit]
        ok = lab[zz, yy, xx] == own_id
        img[zz[ok], yy[ok], xx[ok]] = val[ok]
