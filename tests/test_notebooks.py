"""Every notebook of the book executed with papermill at the `quick` profile, then the Jupyter Book build.

One run of the whole quick book (module fixture); each test asserts on that run's outputs: the notebook ran, its
metrics file parses with the expected names, its figures exist, and the HTML built with zero warnings.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from emkit import book

pytestmark = pytest.mark.notebooks

# What each chapter must leave behind: metric names (with a check on the value) and figure names.
EXPECTED = {
    "01_data": {
        "metrics": {"synthetic_synapses": lambda v: v > 0, "synthetic_cells": lambda v: v > 0,
                    "synthetic_mitochondria": lambda v: v > 0, "synthetic_presynaptic_neurons": lambda v: v > 1},
        "figures": ["01_data-layers.png"],
    },
    "02_synthetic_world": {
        "metrics": {"baseline_neuron_split_bacc": lambda v: 0 <= v <= 1, "baseline_chance": lambda v: 0 < v < 0.5,
                    "realism_log_psd_rms_vs_snemi3d": lambda v: v >= 0},
        "figures": ["02_synthetic_world-gallery-synapses.png", "02_synthetic_world-difficulty.png",
                    "02_synthetic_world-realism.png"],
    },
    "03_cutouts": {
        "metrics": {"pre_mask_vesicle_rule_agreement": lambda v: v >= 0.9, "cutout_speedup_raw": lambda v: v > 0,
                    "cutouts_per_s_batched_raw": lambda v: v > 0},
        "figures": ["03_cutouts-synapse-cubes.png", "03_cutouts-throughput.png"],
    },
    "04_ssl_training": {
        "metrics": {"ssl_train_samples_per_s": lambda v: v > 0, "ssl_loss_last10": lambda v: v == v},
        "figures": ["04_ssl_training-loss.png", "04_ssl_training-cubes.png"],
    },
    "05_embedding_evaluation": {
        "metrics": {"silhouette_by_class": lambda v: -1 <= v <= 1, "hopkins": lambda v: 0 <= v <= 1,
                    "probe10_over_supervised": lambda v: v >= 0, "handmade_baseline_acc": lambda v: 0 <= v <= 1,
                    "silhouette_oracle": lambda v: -1 <= v <= 1, "oracle_acc": lambda v: 0 <= v <= 1,
                    "ssl_context_probe10_acc": lambda v: 0 <= v <= 1, "supervised_context_acc": lambda v: 0 <= v <= 1},
        "figures": ["05_embedding_evaluation-label-budget.png", "05_embedding_evaluation-umap.png"],
    },
    "06_real_em_embeddings": {
        "metrics": {"real_retrieval_precision_at_5": lambda v: 0 <= v <= 1,
                    "real_retrieval_chance": lambda v: 0 < v < 1},
        "figures": ["06_real_em_embeddings-cutouts.png", "06_real_em_embeddings-umap.png"],
    },
}


@pytest.fixture(scope="module")
def quick_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick-book") / "book"
    manifest = book.run_book("quick", book_dir=out, build=True, progress=False)
    return out, manifest


def test_plan_is_covered_by_expectations():
    assert {nb.name for nb in book.load_plan("quick")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_ran_and_recorded(quick_book, name):
    out, manifest = quick_book
    entry = manifest["notebooks"][name]
    assert entry["status"] == "ok" and entry["parameters"]["profile"] == "quick"
    executed = nbformat.read(out / f"{name}.ipynb", as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    doc = json.loads((out / "_generated" / f"{name}.json").read_text())
    values = {m["name"]: m["value"] for m in doc["metrics"]}
    for metric, check in EXPECTED[name]["metrics"].items():
        assert metric in values, f"{name} did not record {metric}"
        assert check(values[metric]), f"{name}: {metric} = {values[metric]}"
    for fig in EXPECTED[name]["figures"]:
        png = out / "_generated" / "figures" / fig
        assert png.exists() and png.stat().st_size > 2000, f"{name}: figure {fig} missing or empty"


def test_book_html_built_without_warnings(quick_book):
    out, manifest = quick_book
    html = out.parent / "_build" / "html"
    assert (html / "index.html").exists()
    for page in ["intro", "ssl_study", "provenance", "results", *EXPECTED]:
        assert (html / f"{page}.html").exists(), page
    provenance = (html / "provenance.html").read_text()
    assert manifest["git"]["commit"] is None or manifest["git"]["commit"][:12] in provenance
    assert manifest["data"]["datasets"], "the data fingerprint names the generated world"
