"""The book: its plan, the papermill runner, provenance and the results page.

The plan (``book/plan.yaml``) lists every notebook in reading order and the parameters each takes under each
profile:

- ``quick``   — tests and CI: the tiny synthetic world, seconds per notebook;
- ``default`` — ``make book``: the whole book on the default synthetic world, on a CPU, within ~15 minutes;
- ``full``    — a GPU and/or real public data: full model and data sizes.

:func:`run_book` executes the notebooks (``notebooks/*.ipynb``, the stripped halves of the jupytext pairs) with
papermill into the book folder, stops at the first failing notebook naming it and the failing cell's error, writes
a provenance manifest and the results page, and builds the HTML with Jupyter Book 1.x (warnings are errors).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

from emkit import paths
from emkit.results import load_results

PROFILES = ("quick", "default", "full")
_QUIET_TQDM = "ignore:IProgress not found"  # a -W filter: tqdm's warning when a kernel has no ipywidgets

# Packages whose versions go into the provenance manifest.
_TRACKED_PACKAGES = (
    "emkit", "torch", "numpy", "pandas", "scikit-learn", "scipy", "umap-learn", "cloud-volume", "tensorstore",
    "caveclient", "papermill", "jupyter-book", "jupytext", "zarr", "duckdb", "pyarrow", "matplotlib", "seaborn",
)


class NotebookFailed(RuntimeError):
    """A notebook of the book raised; the message names the notebook, the cell and the error."""


@dataclass(frozen=True)
class NotebookPlan:
    """One notebook of the book and its parameters for one profile."""

    name: str
    source: Path
    title: str
    parameters: dict = field(default_factory=dict)


def load_plan(profile: str = "default", plan_path: str | os.PathLike | None = None) -> list[NotebookPlan]:
    """Read ``book/plan.yaml`` and resolve each notebook's parameters for ``profile``.

    Parameters are merged in this order: the notebook's ``common`` parameters, then its ``<profile>`` parameters; the
    profile name itself is always passed as ``profile``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    root = paths.project_root()
    plan_path = Path(plan_path) if plan_path else root / "book" / "plan.yaml"
    doc = yaml.safe_load(plan_path.read_text())
    notebooks = []
    seen = set()
    for i, entry in enumerate(doc.get("notebooks") or []):
        name = entry.get("name")
        if not name:
            raise ValueError(f"{plan_path}: notebook entry {i} has no name")
        if name in seen:
            raise ValueError(f"{plan_path}: notebook {name!r} is listed twice")
        seen.add(name)
        source = root / entry.get("source", f"notebooks/{name}.ipynb")
        if not source.exists():
            raise FileNotFoundError(f"{plan_path}: notebook {name!r} points to {source}, which does not exist")
        params = dict((entry.get("parameters") or {}).get("common") or {})
        params.update((entry.get("parameters") or {}).get(profile) or {})
        params["profile"] = profile
        notebooks.append(NotebookPlan(name, source, entry.get("title", name), params))
    if not notebooks:
        raise ValueError(f"{plan_path}: the plan lists no notebooks")
    return notebooks


def check_parameters(plan: list[NotebookPlan]) -> None:
    """Raise if a planned parameter is not a variable of its notebook's ``parameters`` cell.

    papermill injects unknown parameters with only a warning, so a misspelt name in ``book/plan.yaml`` (say, in the
    ``full`` profile, which CI never runs) would silently leave the notebook's default in place. The names each
    notebook accepts are read with :func:`papermill.inspect_notebook`.

    Raises
    ------
    ValueError
        Naming the notebook, the profile, the unknown parameters and the ones the notebook accepts.
    """
    import papermill as pm

    for nb in plan:
        accepted = set(pm.inspect_notebook(str(nb.source)))
        unknown = sorted(set(nb.parameters) - accepted)
        if unknown:
            profile = nb.parameters.get("profile")
            raise ValueError(f"the plan sets {unknown} for notebook {nb.name!r} (profile {profile!r}), but its "
                             f"parameters cell does not define them; it accepts {sorted(accepted)}")


# ----------------------------------------------------------------------------------------------------------------
# Provenance


def git_commit(root: Path) -> dict:
    """The checked-out commit and whether the tree has uncommitted changes (``None`` outside git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, check=True).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"commit": None, "dirty": None}


def package_versions(names=_TRACKED_PACKAGES) -> dict:
    """Installed versions of the packages that shape the book's numbers."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def data_fingerprint(data_dir: Path | None = None) -> dict:
    """A fingerprint of the generated data the book read: per dataset folder, the generator's COMPLETE marker and
    a SHA-256 over its tables (parquet), plus one digest over all of them."""
    data_dir = Path(data_dir) if data_dir else paths.data_dir()
    datasets = {}
    for marker in sorted(data_dir.glob("*/COMPLETE")):
        digest = hashlib.sha256(marker.read_bytes())
        for table in sorted(marker.parent.glob("*.parquet")):
            digest.update(table.name.encode())
            digest.update(table.read_bytes())
        datasets[marker.parent.name] = digest.hexdigest()[:16]
    overall = hashlib.sha256(json.dumps(datasets, sort_keys=True).encode()).hexdigest()[:16]
    return {"data_dir": str(data_dir), "datasets": datasets, "digest": overall}


def _cpu_model() -> str | None:
    """The processor's name from /proc/cpuinfo (Linux), else ``platform.processor()``; None when neither says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _host() -> dict:
    # the CPU model and the vector instructions torch's kernels use (AVX2, AVX512, ...) are recorded because the
    # book's timings and even its trained numbers differ between processors (oneDNN picks other kernels)
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cpu_model": _cpu_model()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # the runner itself does not need torch
        info["cuda"] = None
    return info


# ----------------------------------------------------------------------------------------------------------------
# Running


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to the project root when it lies inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _static_pages(root: Path) -> list[Path]:
    book = root / "book"
    return [p for p in book.iterdir() if p.suffix in (".md", ".bib") or p.name == "images"]


def uses_umap(plan: list[NotebookPlan]) -> bool:
    """Whether a planned notebook draws a UMAP: its ``projection`` parameter, planned or default, is ``"umap"``."""
    import ast

    import papermill as pm

    for nb in plan:
        declared = pm.inspect_notebook(str(nb.source)).get("projection")
        if declared is None:
            continue
        value = nb.parameters.get("projection")
        if value is None:
            try:
                value = ast.literal_eval(str(declared.get("default")))
            except (ValueError, SyntaxError):
                continue
        if value == "umap":
            return True
    return False


def start_umap_warmup() -> subprocess.Popen | None:
    """Start :func:`emkit.analysis.plots.warm_umap_kernels` in a background process at low CPU priority (nice 10).

    It fills numba's file cache while the first chapters run, so that the evaluation chapter's first UMAP does not
    spend ~40 s compiling (2 cores). Returns the process, or None where it cannot be started.
    """
    code = "from emkit.analysis.plots import warm_umap_kernels; warm_umap_kernels()"
    lower_priority = (lambda: os.nice(10)) if hasattr(os, "nice") else None
    try:
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=lower_priority)
    except OSError:
        return None


def coalesce_streams(notebook_path: str | os.PathLike) -> int:
    """Rewrite an executed notebook with each cell's consecutive stdout and stderr outputs merged into one, and
    carriage returns applied (nbconvert's ``CoalesceStreamsPreprocessor``, as ``jupyter nbconvert
    --coalesce-streams`` does).

    Without ipywidgets in the kernel, tqdm draws text progress bars; papermill stores every redraw as an output of
    its own (1,568 outputs in the SSL chapter's default run), and the book would print each of them. Merged, a bar
    is its final line, which keeps the elapsed time and the rate.

    Returns
    -------
    int
        Outputs removed by merging.
    """
    import nbformat
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb = nbformat.read(notebook_path, as_version=4)
    before = sum(len(cell.get("outputs", [])) for cell in nb.cells)
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    nbformat.write(nb, notebook_path)
    return before - sum(len(cell.get("outputs", [])) for cell in nb.cells)


def run_book(profile: str = "default", only: list[str] | None = None, book_dir: str | os.PathLike | None = None,
             build: bool = True, progress: bool = True, kernel_name: str | None = None,
             plan_path: str | os.PathLike | None = None, warm_umap: bool = True) -> dict:
    """Execute the book's notebooks with papermill, write provenance and results pages, and build the HTML.

    Parameters
    ----------
    profile : {"quick", "default", "full"}
        Which parameter set to run.
    only : list of str, optional
        Run only these notebooks (by name); the others' earlier outputs stay as they are.
    book_dir : path, optional
        Where executed notebooks and generated pages go (default ``<root>/book``). Any other folder receives a copy
        of the static pages, so a test can build a complete book in ``tmp_path``.
    build : bool
        Build the HTML with Jupyter Book afterwards (skipped with a note when ``only`` leaves chapters missing).
    progress : bool
        Show a progress bar over notebooks.
    kernel_name : str, optional
        Jupyter kernel; default: the kernel of the Python running this function.
    plan_path : path, optional
        Another plan file (default ``book/plan.yaml``).
    warm_umap : bool
        When a planned notebook draws a UMAP, compile umap-learn's kernels in a background process meanwhile
        (:func:`start_umap_warmup`); it is stopped when the notebooks are done.

    Returns
    -------
    dict
        The provenance manifest (also written to ``<book_dir>/_generated/manifest.json``).

    Raises
    ------
    ValueError
        Before anything runs, when the plan sets a parameter a notebook does not define (:func:`check_parameters`).
    NotebookFailed
        When a notebook raises: names the notebook, the cell number and the error; later notebooks are not run.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError
    from tqdm.auto import tqdm

    root = paths.project_root()
    plan = load_plan(profile, plan_path)
    check_parameters(plan)
    names = [nb.name for nb in plan]
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"--only names unknown notebooks {unknown}; the plan has {names}")
        plan = [nb for nb in plan if nb.name in only]

    book_dir = Path(book_dir).resolve() if book_dir else root / "book"
    book_dir.mkdir(parents=True, exist_ok=True)
    if book_dir != (root / "book").resolve():
        for page in _static_pages(root):
            target = book_dir / page.name
            if page.is_dir():
                shutil.copytree(page, target, dirs_exist_ok=True)
            else:
                shutil.copy2(page, target)
    generated = book_dir / "_generated"
    generated.mkdir(exist_ok=True)

    manifest_path = generated / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if (only and manifest_path.exists()) else {}
    manifest = {
        "profile": profile,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_commit(root),
        "packages": package_versions(),
        "host": _host(),
        "notebooks": dict(previous.get("notebooks", {})),
    }

    env_backup = os.environ.get("EMKIT_RESULTS_DIR")
    os.environ["EMKIT_RESULTS_DIR"] = str(generated)
    # the kernels have no ipywidgets, so tqdm.auto draws text bars (merged by coalesce_streams) and first warns that
    # "IProgress not found. Please update jupyter and ipywidgets": advice for JupyterLab, noise on every page
    warnings_backup = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [warnings_backup, _QUIET_TQDM]))
    # the first UMAP of a fresh environment compiles for ~40 s: let a background process do that meanwhile
    warmup = start_umap_warmup() if warm_umap and uses_umap(plan) else None
    bar = tqdm(plan, desc=f"book [{profile}]", unit="notebook", disable=not progress)
    try:
        for nb in bar:
            bar.set_postfix_str(nb.name)
            out = book_dir / f"{nb.name}.ipynb"
            entry = {"title": nb.title, "source": _rel(nb.source, root), "parameters": nb.parameters}
            start = time.perf_counter()
            try:
                pm.execute_notebook(
                    str(nb.source), str(out), parameters=nb.parameters, cwd=str(root),
                    kernel_name=kernel_name or _kernel_for_this_python(), progress_bar=False,
                )
                coalesce_streams(out)
            except PapermillExecutionError as err:
                coalesce_streams(out)  # the executed copy keeps the traceback; its progress bars are merged too
                entry.update(status="failed", wall_s=round(time.perf_counter() - start, 2),
                             error=f"{err.ename}: {err.evalue}")
                manifest["notebooks"][nb.name] = entry
                _finish(manifest, manifest_path, book_dir, generated)
                first_line = (err.source or "").strip().splitlines()[:1]
                raise NotebookFailed(
                    f"notebook {nb.name} ({_rel(nb.source, root)}) failed in cell In[{err.exec_count}] "
                    f"({first_line[0] if first_line else ''!r}): {err.ename}: {err.evalue}\n"
                    f"  executed copy with the traceback: {out}"
                ) from None
            entry.update(status="ok", wall_s=round(time.perf_counter() - start, 2))
            manifest["notebooks"][nb.name] = entry
            _finish(manifest, manifest_path, book_dir, generated)
    finally:
        bar.close()
        if warmup is not None and warmup.poll() is None:  # the book is done (or failed) first: no orphan left
            warmup.terminate()
            warmup.wait()
        for name, value in (("EMKIT_RESULTS_DIR", env_backup), ("PYTHONWARNINGS", warnings_backup)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    if build:
        missing = [n for n in names if not (book_dir / f"{n}.ipynb").exists()]
        if missing:
            print(f"not building the HTML: notebooks never run in {book_dir}: {', '.join(missing)}")
        else:
            build_html(book_dir)
    return manifest


def _finish(manifest: dict, manifest_path: Path, book_dir: Path, generated: Path) -> None:
    manifest["data"] = data_fingerprint()
    manifest["total_wall_s"] = round(sum(e.get("wall_s", 0) for e in manifest["notebooks"].values()), 2)
    manifest_path.write_text(json.dumps(manifest, indent=2, default=str))
    (book_dir / "provenance.md").write_text(render_provenance(manifest))
    (book_dir / "results.md").write_text(render_results(load_results(generated), manifest))


def _kernel_for_this_python() -> str:
    """Name of a Jupyter kernel that runs ``sys.executable``; registers one in the venv if needed."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().get_all_specs()
    for name, spec in specs.items():
        argv = spec["spec"].get("argv", [])
        if argv and Path(argv[0]).resolve() == Path(sys.executable).resolve():
            return name
    # ipykernel's built-in "python3" spec runs the Python that asks for it (this one).
    return "python3"


def _jupyter_book_executable() -> str:
    """The ``jupyter-book`` script of the environment running this Python (falls back to the PATH)."""
    beside = Path(sys.executable).parent / "jupyter-book"
    found = beside if beside.exists() else shutil.which("jupyter-book")
    if not found:
        raise FileNotFoundError("jupyter-book is not installed: `pip install 'jupyter-book>=1.0.4,<2'`")
    return str(found)


def build_html(book_dir: str | os.PathLike | None = None, output_dir: str | os.PathLike | None = None) -> Path:
    """Build the HTML with Jupyter Book 1.x from the executed notebooks (never re-executes them).

    Warnings are errors (``-W -n --keep-going``). Returns the path of ``index.html``.
    """
    root = paths.project_root()
    book_dir = Path(book_dir) if book_dir else root / "book"
    output_dir = Path(output_dir) if output_dir else (root if book_dir.resolve() == (root / "book").resolve()
                                                       else book_dir.parent)
    cmd = [
        _jupyter_book_executable(), "build", str(book_dir), "--config", str(root / "_config.yml"),
        "--toc", str(root / "_toc.yml"), "--path-output", str(output_dir), "-W", "-n", "--keep-going", "--all",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n"
                           f"{proc.stderr[-4000:]}")
    index = output_dir / "_build" / "html" / "index.html"
    print(f"book built: {index}")
    return index


# ----------------------------------------------------------------------------------------------------------------
# Generated pages


def render_provenance(manifest: dict) -> str:
    """The provenance page (MyST Markdown) from a manifest."""
    git = manifest.get("git", {})
    commit = git.get("commit") or "not a git checkout"
    dirty = " (with uncommitted changes)" if git.get("dirty") else ""
    host, data = manifest.get("host", {}), manifest.get("data", {})
    lines = [
        "# Provenance",
        "",
        "Every run of the book writes this page: what was run, on what, with which parameters and data.",
        "",
        f"- **profile**: `{manifest.get('profile')}`",
        f"- **started**: {manifest.get('started')}",
        f"- **git commit**: `{commit}`{dirty}",
        f"- **data fingerprint**: `{data.get('digest')}` "
        f"({', '.join(f'{k}: `{v}`' for k, v in data.get('datasets', {}).items()) or 'none'})",
        f"- **host**: {host.get('platform')}, {host.get('cpus')} CPUs ({host.get('cpu_model') or 'model unknown'}; "
        f"torch's CPU kernels: {host.get('cpu_capability') or 'unknown'}), "
        f"Python {host.get('python')}, GPU: {host.get('cuda') or 'none'}",
        f"- **total notebook wall time**: {manifest.get('total_wall_s')} s",
        "",
        "## Notebooks",
        "",
        "| notebook | status | wall time (s) | parameters |",
        "| --- | --- | ---: | --- |",
    ]
    for name, entry in manifest.get("notebooks", {}).items():
        params = ", ".join(f"`{k}={v!r}`" for k, v in entry.get("parameters", {}).items())
        status = entry.get("status", "?")
        if entry.get("error"):
            status += f": {entry['error']}"
        lines.append(f"| {name} | {status} | {entry.get('wall_s', '')} | {params.replace('|', '/')} |")
    lines += ["", "## Package versions", "", "| package | version |", "| --- | --- |"]
    for name, version in manifest.get("packages", {}).items():
        lines.append(f"| {name} | {version or 'not installed'} |")
    lines.append("")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    if value is None:
        return ""
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
    return f"{value:.3g}"


def render_results(docs: list[dict], manifest: dict | None = None) -> str:
    """The results page (MyST Markdown): one table of every chapter's headline numbers next to their targets."""
    profile = (manifest or {}).get("profile", "?")
    lines = [
        "# Results",
        "",
        f"Every chapter's headline numbers from the last run (profile `{profile}`), next to the targets the chapters "
        "state. A ✗ is a target this run missed: it is reported, not hidden. Numbers come from the executed "
        "notebooks' metrics files (`_generated/<chapter>.json`). Where a chapter gives one, *interval* is a confidence "
        "interval of the value (the chapter's description says which); ✓ and ✗ judge the value alone.",
        "",
        "| chapter | metric | value | interval | unit | target | met |",
        "| --- | --- | ---: | :---: | --- | --- | :---: |",
    ]
    for doc in docs:
        for m in doc.get("metrics", []):
            met = {True: "✓", False: "✗", None: ""}[m.get("passed")]
            target = m.get("target") or ""
            interval = m.get("interval")
            interval = f"{_fmt(interval[0])} – {_fmt(interval[1])}" if interval else ""
            lines.append(f"| {doc['chapter']} | {m['name']} | {_fmt(m['value'])} | {interval} | "
                         f"{m.get('unit', '')} | {target} | {met} |")
    if not docs:
        lines.append("| (no chapter has recorded numbers yet) | | | | | | |")
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# CLI


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("book", help="run the book's notebooks with papermill and build the HTML")
    p.add_argument("--profile", default="default", choices=PROFILES)
    p.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks (by plan name)")
    p.add_argument("--book-dir", default=None, help="where executed notebooks go (default: book/)")
    p.add_argument("--no-build", action="store_true", help="execute only; do not build the HTML")
    p.add_argument("--build-only", action="store_true", help="build the HTML from already executed notebooks")
    p.add_argument("--list", action="store_true", help="print the plan for the profile and exit")
    p.set_defaults(func=_cli_book)


def _cli_book(args) -> int:
    if args.list:
        for nb in load_plan(args.profile):
            print(f"{nb.name:28s} {_rel(nb.source, paths.project_root())}  {nb.parameters}")
        return 0
    if args.build_only:
        build_html(args.book_dir)
        return 0
    try:
        manifest = run_book(args.profile, only=args.only, book_dir=args.book_dir, build=not args.no_build)
    except NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    ran = args.only or list(manifest["notebooks"])
    print(f"ran {len(ran)} notebook(s) at profile {args.profile} in {wall_time(manifest, ran)} s")
    return 0


def wall_time(manifest: dict, names) -> float:
    """Seconds the named notebooks took in their last run, summed (the manifest also keeps earlier runs' entries
    when the book is run with ``--only``, so its ``total_wall_s`` is not what this run took)."""
    entries = manifest["notebooks"]
    return round(sum(entries[n].get("wall_s", 0.0) for n in names if n in entries), 2)
