"""Real-data lane: every real table in ../shared/realdata/tables ingests into the point schema with the row counts
and value ranges its README states, and the local EM samples open through their descriptors."""

from __future__ import annotations

import numpy as np
import pytest

from emkit import paths
from emkit.io import tables as T
from emkit.io.datasets import open_dataset

pytestmark = pytest.mark.realdata

REAL = paths.realdata_dir()
TABLES = REAL / "tables"
if not REAL.exists():
    pytest.skip(f"real data folder {REAL} is absent (set EMKIT_REALDATA)", allow_module_level=True)


def _in_range(pts, lo, hi):
    xyz = pts[["x_nm", "y_nm", "z_nm"]].to_numpy()
    return bool(np.all(xyz >= lo) and np.all(xyz <= hi))


def test_hemibrain_nt_synapses():
    pts = T.read_nt_bbox_synapses(TABLES / "hemibrain_nt_synapses")
    assert len(pts) == 1903 and pts["id"].is_unique
    assert pts["label"].value_counts().to_dict() == {"serotonin": 403, "acetylcholine": 300, "dopamine": 300,
                                                     "gaba": 300, "glutamate": 300, "octopamine": 300}
    # hemibrain is ~35k x 40k x 35k voxels of 8 nm: every point inside [0, 350 um)
    assert _in_range(pts, 0, 350_000)
    # pre and post sites are a few voxels apart (a synapse, not a unit error)
    d = np.linalg.norm(pts[["pre_x_nm", "pre_y_nm", "pre_z_nm"]].to_numpy()
                       - pts[["post_x_nm", "post_y_nm", "post_z_nm"]].to_numpy(), axis=1)
    assert np.median(d) < 300 and d.max() < 2000


def test_manc_nt_synapses_and_neuron_table():
    pts = T.read_nt_bbox_synapses(TABLES / "manc_nt_synapses")
    assert len(pts) == 3000
    assert pts["label"].value_counts().to_dict() == {"acetylcholine": 1000, "gaba": 1000, "glutamate": 1000}
    assert _in_range(pts, 0, 1_000_000)
    neurons = T.read_table(TABLES / "manc_nt_synapses" / "gt_pred_matched.csv")
    assert len(neurons) == 11_071 and {"bodyId", "nt_class", "predictedNt"} <= set(neurons.columns)


def test_kasthuri2015_csv_and_original_xls_agree():
    csv = T.read_kasthuri2015(TABLES / "kasthuri2015_synapses_mmc2.csv")
    xls = T.read_kasthuri2015(TABLES / "kasthuri2015_mmc2_original.xls")
    assert len(csv) == len(xls) == 1700
    np.testing.assert_allclose(csv[["x_nm", "y_nm", "z_nm"]].to_numpy(), xls[["x_nm", "y_nm", "z_nm"]].to_numpy())
    assert csv["label"].value_counts().to_dict() == {"excitatory": 1610, "inhibitory": 87, "myelinated": 2,
                                                     "unknown": 1}
    assert (csv["pre_root_id"] == xls["pre_root_id"]).all()
    assert _in_range(csv, 10_000, 60_000)  # tens of um from the origin


def test_navis_da1_connectors():
    pts = T.read_navis_connectors(TABLES / "navis_hemibrain_DA1_synapses")
    assert len(pts) == 14_836 and pts["root_id"].nunique() == 5
    assert set(pts["label"]) == {"pre", "post"} and (pts["cell_type"] == "DA1_lPN").all()
    assert _in_range(pts, 0, 350_000)


def test_flywire_annotations():
    meta = T.read_flywire_hemibrain_meta(TABLES / "flywire_annotations_hemibrain_meta.csv")
    assert len(meta) == 25_397 - 8_161  # neurons with a soma location
    assert _in_range(meta, 0, 350_000)
    with pytest.raises(ValueError, match=r"row \d+ \(bodyId=\d+\): somaLocation is missing"):
        T.read_flywire_hemibrain_meta(TABLES / "flywire_annotations_hemibrain_meta.csv", missing="raise")
    glia = T.read_flywire_non_neurons(TABLES / "flywire_non_neuron_annotations.tsv")
    assert len(glia) == 841 and set(glia["label"]) == {"glia", "trachea"}
    assert _in_range(glia, 0, 1_000_000)  # FAFB ~ 1 mm x 0.5 mm x 0.3 mm


def test_microns_pinky100():
    soma = T.read_pinky100_somata(TABLES / "microns_pinky100" / "soma.csv")
    assert len(soma) == 363 and soma["root_id"].is_unique
    assert _in_range(soma, 0, 500_000)
    edges = T.read_pinky100_synapses(TABLES / "microns_pinky100" / "synapses.csv")
    assert len(edges) == 1981 and list(edges.columns) == ["pre_root_id", "post_root_id"]


def test_synister_skeletons_and_hemilineages():
    sk = T.read_synister_skeletons(TABLES / "synister_fafb_v3" / "skeletons_v3.json",
                                   TABLES / "synister_fafb_v3" / "hemi_lineages_v3.json")
    assert len(sk) == 2804 and sk["nt_known"].notna().sum() == 688
    assert sk["hemilineage"].notna().all()


def test_hemibrain_descriptor_tables():
    ds = open_dataset("hemibrain")
    assert len(ds.points("nt_synapses")) == 1903
    assert len(ds.points("da1_connectors")) == 14_836


def test_local_volumes_open_through_descriptors():
    snemi = open_dataset("snemi3d")
    em, seg = snemi.volume("em"), snemi.volume("neurons")
    np.testing.assert_array_equal(em.shape_vox, (1024, 1024, 100))
    np.testing.assert_allclose(em.voxel_size_nm, (6, 6, 30))
    assert em.layer_type == "image" and seg.layer_type == "segmentation"
    arr, valid = seg.cutout((512 * 6, 512 * 6, 50 * 30), (32, 32, 4), units="nm")
    assert arr.shape == (4, 32, 32) and valid.all() and arr.max() <= 400
    vnc = open_dataset("vnc_sstem")
    np.testing.assert_array_equal(vnc.volume("em").shape_vox, (1024, 1024, 20))
    mito = vnc.volume("mitochondria").read((0, 0, 0), (1024, 1024, 1))
    assert mito.max() <= 65
    gala = open_dataset("gala_fib")
    np.testing.assert_array_equal(gala.volume("neurons").shape_vox, (200, 100, 50))
