"""Parameter tables of the synthetic EM world: sizes, class tables, difficulty, nuisance and look.

Everything the generator draws from is here, as plain dicts, so that ``truth.json`` can store it verbatim and
another engineer can tune the renderer's look (``LOOK``) against real EM without reading the renderer.

Scale note: somata are shrunk about 5-8x relative to real neurons (soma diameters ~0.7-1.5 um instead of
~8-20 um) so that >=150 cells fit a CPU budget at 8x8x40 nm voxels; nucleus/soma ratios, nucleus shapes,
infolding and eccentricity keep their published relations (e.g. Peters, Palay & Webster 1991, *The Fine
Structure of the Nervous System*). Synaptic ultrastructure (vesicles 35-60 nm, clouds 150-250 nm, clefts ~20 nm,
PSDs 10-40 nm) is kept at real scale, because downstream synapse cutouts (~32^3 at 16 nm) must see it.
"""

from __future__ import annotations

import copy

VOXEL_SIZE_NM = (8, 8, 40)  # (x, y, z) at mip 0
CHUNK_SIZE_VOX = (64, 64, 16)  # (x, y, z) storage chunk at every mip
N_MIPS = 3  # mips 0, 1, 2, each downsampled 2x2x1
BLOCK_XY_VOX = 256  # rendering block (a column of storage chunks), mip-0 voxels in x and y

# World sizes. Blocks are BLOCK_XY_VOX wide; rows [0, soma_rows) of blocks (in y) are the cell-body layer,
# the remaining rows are neuropil. Counts are targets: the layout places as many as fit.
SIZES: dict[str, dict] = {
    "tiny": dict(blocks_x=3, blocks_y=3, soma_rows=1, z_sections=48, n_pre_neurons=15, n_hemilineages=6,
                 n_boutons=50, n_cells=16, n_mitos=32, n_regions=2),
    "default": dict(blocks_x=10, blocks_y=10, soma_rows=5, z_sections=64, n_pre_neurons=72, n_hemilineages=12,
                    n_boutons=770, n_cells=160, n_mitos=430, n_regions=4),
    "large": dict(blocks_x=16, blocks_y=12, soma_rows=5, z_sections=64, n_pre_neurons=150, n_hemilineages=24,
                  n_boutons=1550, n_cells=250, n_mitos=800, n_regions=8),
}

# Neurotransmitter classes (lowercase names as synister uses). Ultrastructure after e.g. Peters et al. 1991;
# Gray 1959 (type I asymmetric / type II symmetric); Klagges et al. 1996 and Eckstein et al. 2024 (synister) for
# fly synapses; dense-core vesicles of aminergic terminals (Nässel 1988; Thoenen & Tranzer 1968).
#   ves_diam_nm     small clear vesicle outer diameter
#   ves_density     vesicles per um^3 of the vesicle cloud
#   ves_aspect      minor/major axis of clear vesicles (1 round, <1 pleomorphic / flattened)
#   dcv_frac        fraction of vesicles that are dense-core; dcv_diam_nm their diameter
#   psd_nm          postsynaptic density thickness (asymmetric ~30-40, symmetric ~10-15)
#   cleft_nm        synaptic cleft width
#   cloud_r_nm      vesicle-cloud radius
#   tbar            presynaptic dense projection strength (0..1)
NT_CLASSES: dict[str, dict] = {
    "acetylcholine": dict(ves_diam_nm=36.0, ves_density=9500.0, ves_aspect=1.0, dcv_frac=0.0, dcv_diam_nm=80.0,
                          psd_nm=38.0, cleft_nm=20.0, cloud_r_nm=225.0, tbar=1.0),
    "glutamate": dict(ves_diam_nm=42.0, ves_density=7000.0, ves_aspect=0.95, dcv_frac=0.01, dcv_diam_nm=80.0,
                      psd_nm=30.0, cleft_nm=22.0, cloud_r_nm=205.0, tbar=0.8),
    "gaba": dict(ves_diam_nm=48.0, ves_density=5000.0, ves_aspect=0.55, dcv_frac=0.01, dcv_diam_nm=80.0,
                 psd_nm=10.0, cleft_nm=18.0, cloud_r_nm=240.0, tbar=0.5),
    "dopamine": dict(ves_diam_nm=52.0, ves_density=4000.0, ves_aspect=0.9, dcv_frac=0.12, dcv_diam_nm=85.0,
                     psd_nm=16.0, cleft_nm=20.0, cloud_r_nm=175.0, tbar=0.4),
    "serotonin": dict(ves_diam_nm=58.0, ves_density=3000.0, ves_aspect=1.0, dcv_frac=0.25, dcv_diam_nm=105.0,
                      psd_nm=12.0, cleft_nm=22.0, cloud_r_nm=165.0, tbar=0.3),
    "octopamine": dict(ves_diam_nm=46.0, ves_density=3500.0, ves_aspect=0.75, dcv_frac=0.18, dcv_diam_nm=120.0,
                       psd_nm=22.0, cleft_nm=24.0, cloud_r_nm=185.0, tbar=0.3),
}
NT_PARAM_KEYS = ("ves_diam_nm", "ves_density", "ves_aspect", "dcv_frac", "dcv_diam_nm", "psd_nm", "cleft_nm",
                 "cloud_r_nm", "tbar")

# Cell types. soma_r_nm: soma core radius range (shrunk, see module doc); nuc_ratio: nucleus/soma radius;
# nuc_aspect: nucleus elongation; folds/fold_depth: nuclear-envelope infoldings (number, relative depth);
# offset: nucleus eccentricity (fraction of soma radius); hetero: heterochromatin amount (0..1);
# cyto: cytoplasm brightness offset (grey levels); peri_rate: mean perisomatic boutons per cell;
# peri_gaba: fraction of those boutons that are GABAergic.
CELL_TYPES: dict[str, dict] = {
    "pyramidal": dict(ei_class="excitatory", weight=0.30, soma_r_nm=(640.0, 740.0), nuc_ratio=0.58,
                      nuc_aspect=1.1, folds=0, fold_depth=0.0, offset=0.12, hetero=0.15, cyto=0.0,
                      peri_rate=1.5, peri_gaba=0.85, lobes=0),
    "granule": dict(ei_class="excitatory", weight=0.25, soma_r_nm=(420.0, 480.0), nuc_ratio=0.80,
                    nuc_aspect=1.0, folds=0, fold_depth=0.0, offset=0.05, hetero=0.55, cyto=-6.0,
                    peri_rate=0.3, peri_gaba=0.5, lobes=0),
    "basket": dict(ei_class="inhibitory", weight=0.15, soma_r_nm=(560.0, 630.0), nuc_ratio=0.64,
                   nuc_aspect=1.15, folds=4, fold_depth=0.28, offset=0.10, hetero=0.2, cyto=-4.0,
                   peri_rate=3.0, peri_gaba=0.4, lobes=0),
    "martinotti": dict(ei_class="inhibitory", weight=0.10, soma_r_nm=(520.0, 600.0), nuc_ratio=0.58,
                       nuc_aspect=1.6, folds=2, fold_depth=0.18, offset=0.28, hetero=0.25, cyto=-2.0,
                       peri_rate=1.0, peri_gaba=0.5, lobes=0),
    "astrocyte": dict(ei_class="glia", weight=0.12, soma_r_nm=(380.0, 440.0), nuc_ratio=0.72,
                      nuc_aspect=1.3, folds=1, fold_depth=0.12, offset=0.08, hetero=0.45, cyto=18.0,
                      peri_rate=0.0, peri_gaba=0.0, lobes=4),
    "oligodendrocyte": dict(ei_class="glia", weight=0.08, soma_r_nm=(350.0, 410.0), nuc_ratio=0.74,
                            nuc_aspect=1.05, folds=0, fold_depth=0.0, offset=0.05, hetero=0.8, cyto=-30.0,
                            peri_rate=0.0, peri_gaba=0.0, lobes=0),
}

# Mitochondria classes: shape and cristae texture (after e.g. Popov et al. 2005; Vincent et al. 2017 for
# swollen mitochondria). radius/length in nm; cristae_period nm; cristae contrast; matrix grey-level offset.
MITO_CLASSES: dict[str, dict] = {
    "tubular": dict(weight=0.40, r_nm=(45.0, 65.0), length_nm=(450.0, 900.0), cristae_period_nm=40.0,
                    cristae_contrast=1.0, matrix=0.0),
    "round": dict(weight=0.25, r_nm=(70.0, 95.0), length_nm=(0.0, 40.0), cristae_period_nm=36.0,
                  cristae_contrast=1.0, matrix=-6.0),
    "branched": dict(weight=0.20, r_nm=(40.0, 52.0), length_nm=(220.0, 360.0), cristae_period_nm=40.0,
                     cristae_contrast=0.9, matrix=0.0),
    "swollen": dict(weight=0.15, r_nm=(110.0, 145.0), length_nm=(0.0, 80.0), cristae_period_nm=90.0,
                    cristae_contrast=0.35, matrix=45.0),
}

# Difficulty: 0 = the class table as written (maximal separability), 1 = every class equal to the mean.
# DEFAULT_DIFFICULTY was chosen with emkit.synth.baseline (see its docstring for the measured table): at 0.2 the
# hand-made baseline reached ~0.44 balanced accuracy on a neuron split of a small world (6 classes, chance 0.167);
# 0.51 since its blob responses are the true Laplacian of Gaussian (2026-11-23), where the difficulty stayed.
DEFAULT_DIFFICULTY = 0.2

# Nuisance: per-neuron idiosyncrasy (relative s.d. of each NT parameter, drawn once per presynaptic neuron,
# shared by all its synapses), per-synapse jitter, and imaging artefacts.
NUISANCE: dict = dict(
    neuron_sd=0.12,  # relative s.d. of each NT parameter per neuron (leaks across a random synapse split)
    neuron_brightness_sd=10.0,  # grey-level s.d. of a neuron's axoplasm brightness
    synapse_sd=0.06,  # relative s.d. per synapse
    section_brightness_sd=6.0,  # grey levels, per z-section
    section_contrast_sd=0.06,  # relative, per z-section
    missing_section_rate=0.01,  # fraction of z-sections blank (0)
    shifted_section_rate=0.02,  # fraction of z-sections shifted in x,y (image only; labels stay true)
    shift_max_px=6,
    crowding=1.0,  # multiplies the number of neurite tubes (more tubes = smaller, more crowded profiles)
)

# The renderer's look: grey levels (0..255) and optics. First tuned by eye against SNEMI3D (Kasthuri et al. 2015),
# then against measured statistics (emkit.synth.realism.compare_volumes on a 2 um, 8-section neuropil crop at 8 nm vs
# SNEMI3D and the Drosophila VNC ssTEM stack, Cardona et al. 2010): lower noise (the spectrum must keep falling above
# 1/25 nm^-1), sharper optics, darker membranes, a band-pass interior texture (12-64 nm) and a contrast stretch.
LOOK: dict = dict(
    cytoplasm=157.0,  # mean neurite cytoplasm
    cytoplasm_sd=10.0,  # s.d. between objects
    texture_sd=8.0,  # low-frequency cytoplasm texture amplitude (~100 nm scale)
    grain_sd=4.0,  # fine granular texture s.d. (sigma 1 px Gaussian of white noise, ~10 nm scale)
    texture_bp_sd=14.0,  # band-pass interior texture s.d. (difference of Gaussians, sigma 1.5 and 8 px: 12-64 nm)
    membrane=64.0,  # grey level of a membrane (x-y boundary), before blur
    membrane_z=0.3,  # darkness fraction of a boundary between sections (oblique membranes)
    soma_cytoplasm=148.0,
    nucleoplasm=158.0,
    heterochromatin=88.0,
    envelope=70.0,
    nucleolus=78.0,
    mito_matrix=104.0,
    mito_cristae=150.0,
    mito_membrane=64.0,
    vesicle_lumen=170.0,
    vesicle_membrane=58.0,
    dcv_core=62.0,
    cleft=150.0,
    psd=70.0,
    tbar=72.0,
    contrast=1.25,  # global contrast stretch about contrast_pivot (grey levels), before blur and noise
    contrast_pivot=140.0,
    blur_sigma_px=0.7,  # Gaussian blur in x,y (mip-0 pixels)
    noise_sd=4.0,  # additive Gaussian noise (grey levels)
    gamma=1.0,
)


def world_params(size: str = "tiny", seed: int = 0, difficulty: float | None = None, **overrides) -> dict:
    """All parameters of one world, as a JSON-able dict.

    Parameters
    ----------
    size : {"tiny", "default", "large"}
    seed : int
    difficulty : float in [0, 1], optional
        0 = class tables as written, 1 = no class signal. Default :data:`DEFAULT_DIFFICULTY`.
    **overrides
        Keys of the size preset (``blocks_x``, ``n_boutons``, ...), of :data:`NUISANCE`, or of :data:`LOOK`
        (prefix-free; e.g. ``noise_sd=0``), or whole tables ``nt_classes=...``, ``cell_types=...``.
    """
    if size not in SIZES:
        raise ValueError(f"unknown world size {size!r}; expected one of {sorted(SIZES)}")
    d = DEFAULT_DIFFICULTY if difficulty is None else float(difficulty)
    if not 0.0 <= d <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {d}")
    p = dict(size=size, seed=int(seed), difficulty=d, voxel_size_nm=list(VOXEL_SIZE_NM),
             chunk_size_vox=list(CHUNK_SIZE_VOX), n_mips=N_MIPS, block_xy_vox=BLOCK_XY_VOX,
             **copy.deepcopy(SIZES[size]), nuisance=copy.deepcopy(NUISANCE), look=copy.deepcopy(LOOK),
             nt_classes=copy.deepcopy(NT_CLASSES), cell_types=copy.deepcopy(CELL_TYPES),
             mito_classes=copy.deepcopy(MITO_CLASSES))
    for key, val in overrides.items():
        if key in ("nt_classes", "cell_types", "mito_classes", "nuisance", "look"):
            p[key] = copy.deepcopy(val)
        elif key in SIZES[size]:
            p[key] = type(SIZES[size][key])(val)
        elif key in NUISANCE:
            p["nuisance"][key] = val
        elif key in LOOK:
            p["look"][key] = val
        else:
            raise ValueError(f"unknown world parameter {key!r}")
    return p
