"""The book's spine: plan, metrics recorder, generated pages, runner failure path, notebook pairs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from emkit import book, paths
from emkit.results import Recorder, load_results, target_met

ROOT = paths.project_root()
NOTEBOOK_SOURCES = sorted((ROOT / "notebooks").glob("*.py"))


def test_plan_resolves_parameters_per_profile():
    quick = {nb.name: nb for nb in book.load_plan("quick")}
    default = {nb.name: nb for nb in book.load_plan("default")}
    assert quick.keys() == default.keys()
    assert quick["01_data"].parameters["profile"] == "quick"
    assert quick["01_data"].parameters["size"] == "tiny"
    assert default["01_data"].parameters["size"] == "default"
    with pytest.raises(ValueError, match="unknown profile"):
        book.load_plan("huge")


def test_plan_and_toc_agree():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    planned = [nb.name for nb in book.load_plan("default")]
    static_pages = {f for f in files if (ROOT / "book" / f"{f}.md").exists()}
    notebook_pages = [f for f in files if f not in ("results", "provenance") and f not in static_pages]
    assert notebook_pages == planned, "every planned notebook is a book page, in the same order"
    for f in [toc["root"], *files]:
        assert (ROOT / "book" / f"{f}.md").exists() or f in planned or f in ("results", "provenance"), f


def test_config_never_reexecutes():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["colab_url"] and config["launch_buttons"]["binderhub_url"]


def test_target_evaluation():
    assert target_met(0.2, ">0.15") is True
    assert target_met(0.1, ">0.15") is False
    assert target_met(0.9, ">=0.9") is True
    assert target_met(3.0, "<2") is False
    assert target_met(1.0, None) is None
    with pytest.raises(ValueError, match="not of the form"):
        target_met(1.0, "about 2")


def test_recorder_writes_and_pages_render(tmp_path):
    rec = Recorder("ssl", directory=tmp_path)
    rec.metric("silhouette", 0.21, target=">0.15", description="by class")
    rec.metric("throughput", 48.5, unit="samples/s")
    rec.metric("silhouette", 0.05, target=">0.15")  # replaced, not duplicated
    assert rec.table()["name"].tolist() == ["silhouette", "throughput"]
    doc = json.loads((tmp_path / "ssl.json").read_text())
    assert [m["name"] for m in doc["metrics"]] == ["silhouette", "throughput"]
    assert doc["metrics"][0]["passed"] is False
    page = book.render_results(load_results(tmp_path), {"profile": "quick"})
    assert "| ssl | silhouette | 0.05 |  |  | >0.15 | ✗ |" in page
    assert "48.5" in page and "samples/s" in page
    rec.metric("ratio", 0.95, target=">=0.9", interval=(0.81, 1.07), description="95 % interval")
    assert json.loads((tmp_path / "ssl.json").read_text())["metrics"][2]["interval"] == [0.81, 1.07]
    page = book.render_results(load_results(tmp_path), {"profile": "quick"})
    assert "| ssl | ratio | 0.95 | 0.81 – 1.07 |  | >=0.9 | ✓ |" in page
    with pytest.raises(ValueError, match="'ratio': interval"):
        rec.metric("ratio", 0.95, interval=(1.07, 0.81))
    manifest = {"profile": "quick", "git": {"commit": "abc123", "dirty": False}, "notebooks": {
        "01_data": {"status": "ok", "wall_s": 1.5, "parameters": {"size": "tiny"}}}, "packages": {"torch": "2.13.0"},
        "data": {"digest": "d1", "datasets": {}}, "host": {}}
    prov = book.render_provenance(manifest)
    assert "`abc123`" in prov and "| 01_data | ok | 1.5 |" in prov and "| torch | 2.13.0 |" in prov
    manifest["host"] = {"platform": "Linux", "cpus": 2, "cpu_model": "AMD EPYC", "cpu_capability": "AVX2"}
    assert "2 CPUs (AMD EPYC; torch's CPU kernels: AVX2)" in book.render_provenance(manifest)


def test_host_names_the_processor_and_the_kernels_torch_uses():
    import torch

    host = book._host()
    assert host["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and host["cpu_capability"]
    assert host["cpus"] == os.cpu_count()
    if Path("/proc/cpuinfo").exists():
        assert host["cpu_model"] and host["cpu_model"] in Path("/proc/cpuinfo").read_text()


def _write_notebook(path: Path, cells: list[str], parameters: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    param = nbformat.v4.new_code_cell("profile = 'default'\nvalue = 1\n" + parameters)
    param.metadata["tags"] = ["parameters"]
    nb.cells = [param] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def test_runner_stops_at_first_failure_naming_notebook_and_cell(tmp_path):
    ok = _write_notebook(tmp_path / "ok.ipynb", [
        "from emkit.results import Recorder\nRecorder('ok').metric('value', value * 2, target='>1')"])
    bad = _write_notebook(tmp_path / "bad.ipynb", ["x = 1", "raise ValueError('synapses row 3 is NaN')"])
    never = _write_notebook(tmp_path / "never.ipynb", ["y = 2"])
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"notebooks": [
        {"name": "ok", "source": str(ok), "parameters": {"quick": {"value": 3}}},
        {"name": "bad", "source": str(bad)},
        {"name": "never", "source": str(never)},
    ]}))
    out = tmp_path / "book"
    expected = r"notebook bad .* failed in cell In\[4\] .*raise ValueError.*: ValueError: synapses row 3"
    with pytest.raises(book.NotebookFailed, match=expected):
        book.run_book("quick", book_dir=out, build=False, progress=False, plan_path=plan)
    manifest = json.loads((out / "_generated" / "manifest.json").read_text())
    assert manifest["notebooks"]["ok"]["status"] == "ok"
    assert manifest["notebooks"]["ok"]["parameters"] == {"value": 3, "profile": "quick"}
    assert manifest["notebooks"]["bad"]["status"] == "failed"
    assert "never" not in manifest["notebooks"]
    assert not (out / "never.ipynb").exists()
    results = json.loads((out / "_generated" / "ok.json").read_text())
    assert results["metrics"][0]["value"] == 6.0 and results["metrics"][0]["passed"] is True
    assert "| ok | value | 6 |" in (out / "results.md").read_text()
    assert "failed: ValueError" in (out / "provenance.md").read_text()


def test_runner_only_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="unknown notebooks"):
        book.run_book("quick", only=["nope"], book_dir=tmp_path, build=False, progress=False)


@pytest.mark.parametrize("profile", book.PROFILES)
def test_every_planned_parameter_is_defined_by_its_notebook(profile):
    """Guards the `full` profile above all, which CI never executes: a misspelt name would be silently ignored."""
    book.check_parameters(book.load_plan(profile))


@pytest.mark.parametrize("profile", book.PROFILES)
def test_planned_encoders_take_the_planned_input_shapes(profile):
    """Each chapter's encoder, at the profile's cube/view/context shapes and voxel size, gives one finite embedding
    per sample: the full profile's ResNet-18 on 8-section views is built here even though CI never trains it."""
    import ast

    import papermill as pm
    import torch

    from emkit.learn.models import build_encoder

    checked = 0
    for nb in book.load_plan(profile):
        defaults = {k: ast.literal_eval(v["default"]) for k, v in pm.inspect_notebook(str(nb.source)).items()}
        params = {**defaults, **nb.parameters}
        if "encoder_name" not in params:
            continue
        (voxel_key,) = [k for k in params if k.endswith("_voxel_nm")]
        encoder = build_encoder(params["encoder_name"], in_channels=1, voxel_size_nm=tuple(params[voxel_key]),
                                width_mult=params.get("width_mult", 1.0)).eval()
        for key in [k for k in params if k.endswith("_shape_vox") and params[k]]:
            x, y, z = params[key]
            with torch.no_grad():
                out = encoder(torch.zeros(1, 1, z, y, x))
            assert out.ndim == 2 and out.shape[0] == 1 and torch.isfinite(out).all(), (nb.name, key)
            checked += 1
    assert checked >= 3


def test_misspelt_parameter_is_refused_before_anything_runs(tmp_path):
    nb = _write_notebook(tmp_path / "nb.ipynb", ["doubled = value * 2"])
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"notebooks": [
        {"name": "nb", "source": str(nb), "parameters": {"common": {"value": 2}, "full": {"vaule": 3}}}]}))
    book.check_parameters(book.load_plan("quick", plan))  # the quick profile only sets `value`: accepted
    expected = r"the plan sets \['vaule'\] for notebook 'nb' \(profile 'full'\).*accepts \['profile', 'value'\]"
    with pytest.raises(ValueError, match=expected):
        book.run_book("full", book_dir=tmp_path / "book", build=False, progress=False, plan_path=plan)
    assert not (tmp_path / "book" / "nb.ipynb").exists()


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_notebook_pair_in_sync_and_well_formed(source):
    """The .py (reviewed) and .ipynb (Colab) halves hold the same cells; the .ipynb is stripped."""
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: run `jupytext --sync {source.relative_to(ROOT)}`"
    from_py = jupytext.read(source)
    from_ipynb = nbformat.read(paired, as_version=4)
    cells_py = [(c.cell_type, c.source.strip()) for c in from_py.cells]
    cells_ipynb = [(c.cell_type, c.source.strip()) for c in from_ipynb.cells]
    assert cells_py == cells_ipynb, f"{source.name} and {paired.name} differ: run `jupytext --sync`"
    for cell in from_ipynb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{paired.name} has outputs: strip them"
    params = [c for c in from_py.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "profile" in params[0].source, "one `parameters` cell that sets `profile`"
    assert any('"google.colab" in sys.modules' in c.source for c in from_py.cells), "guarded Colab set-up cell"


def test_every_notebook_is_in_the_plan():
    planned = {nb.source.resolve() for nb in book.load_plan("default")}
    for source in NOTEBOOK_SOURCES:
        assert source.with_suffix(".ipynb").resolve() in planned, f"{source.name} is not in book/plan.yaml"


def test_wall_time_counts_only_the_notebooks_run():
    manifest = {"notebooks": {"01_data": {"wall_s": 70.0}, "05_embedding_evaluation": {"wall_s": 225.5},
                              "06_real_em_embeddings": {"wall_s": 49.1}}, "total_wall_s": 344.6}
    assert book.wall_time(manifest, ["06_real_em_embeddings"]) == 49.1
    assert book.wall_time(manifest, list(manifest["notebooks"])) == 344.6


def test_umap_warmup_starts_only_for_plans_that_draw_umap():
    assert not book.uses_umap(book.load_plan("quick"))  # the quick profile projects with PCA
    assert book.uses_umap(book.load_plan("default"))  # the evaluation and real-EM chapters draw UMAPs


def test_runner_stops_a_warmup_still_running_when_the_notebooks_are_done(tmp_path, monkeypatch):
    notebook = _write_notebook(tmp_path / "u.ipynb", ["z = 3"], parameters='projection = "umap"  # umap | pca')
    plan = tmp_path / "plan.yaml"
    started = []

    def slow_warmup():
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]))
        return started[-1]

    monkeypatch.setattr(book, "start_umap_warmup", slow_warmup)
    # a planned "pca" overrides the notebook's default: no warm-up
    plan.write_text(yaml.safe_dump({"notebooks": [
        {"name": "u", "source": str(notebook), "parameters": {"quick": {"projection": "pca"}}}]}))
    book.run_book("quick", book_dir=tmp_path / "b1", build=False, progress=False, plan_path=plan)
    assert not started
    # the notebook's default "umap": the warm-up starts, and is stopped when the book is done before it
    plan.write_text(yaml.safe_dump({"notebooks": [{"name": "u", "source": str(notebook)}]}))
    book.run_book("quick", book_dir=tmp_path / "b2", build=False, progress=False, plan_path=plan)
    assert len(started) == 1 and started[0].poll() is not None


def test_coalesce_streams_keeps_each_progress_bar_as_its_final_line(tmp_path):
    nb = nbformat.v4.new_notebook()
    stream = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("...")
    cell.outputs = [
        stream("stream", name="stderr", text="\rtrain:   0%|  | 0/2 [00:00<?, ?step/s]"),
        stream("stream", name="stderr", text="\rtrain:  50%|# | 1/2 [00:01<00:01, 1.0step/s]"),
        stream("stream", name="stderr", text="\rtrain: 100%|##| 2/2 [00:02<00:00, 1.0step/s]"),
        stream("stream", name="stderr", text="\n"),
        stream("display_data", data={"text/plain": "a figure"}),
        stream("stream", name="stdout", text="loss 4.99 -> 3.25\n"),
        stream("stream", name="stdout", text="done\n"),
    ]
    nb.cells = [cell]
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    assert book.coalesce_streams(path) == 4
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream", "display_data", "stream"]
    assert outputs[0].text == "train: 100%|##| 2/2 [00:02<00:00, 1.0step/s]\n"  # the last redraw, with its rate
    assert outputs[2].text == "loss 4.99 -> 3.25\ndone\n"


def test_runner_stores_a_text_progress_bar_as_one_output(tmp_path):
    # tqdm.auto, as emkit uses it: in a kernel without ipywidgets it warns, then draws a text bar
    bar = ("import sys\nfrom tqdm.auto import tqdm\n"
           "for _ in tqdm(range(30), desc='steps', file=sys.stderr, mininterval=0, miniters=1):\n    pass")
    source = _write_notebook(tmp_path / "bar.ipynb", [bar])
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"notebooks": [{"name": "bar", "source": str(source)}]}))
    out = tmp_path / "book"
    before = os.environ.get("PYTHONWARNINGS")
    book.run_book("quick", book_dir=out, build=False, progress=False, plan_path=plan, warm_umap=False)
    assert os.environ.get("PYTHONWARNINGS") == before  # the kernels' warning filter does not outlive the run
    outputs = nbformat.read(out / "bar.ipynb", as_version=4).cells[-1].outputs
    assert len(outputs) == 1, [o.get("text") for o in outputs]  # no "IProgress not found" warning before the bar
    assert outputs[0].text.startswith("steps: 100%|") and outputs[0].text.count("\n") == 1
    assert "\r" not in outputs[0].text
