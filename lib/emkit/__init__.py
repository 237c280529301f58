"""emkit: learn, classify and cluster electron-microscopy ultrastructure.

One library behind the book's chapters: dataset descriptors and volume/table readers (:mod:`emkit.io`),
the synthetic ground-truth EM world (:mod:`emkit.synth`), batched cutouts (:mod:`emkit.cutouts`),
models and self-supervised training (:mod:`emkit.learn`), evaluation (:mod:`emkit.analysis`) and the
papermill book runner (:mod:`emkit.book`).

Conventions: coordinates are (x, y, z) with the unit in the name (``_nm`` / ``_vox``); arrays are (z, y, x).
"""

__version__ = "0.1.0"
