"""Encoders and heads; :func:`build_encoder` is the registry the configs and the CLI use."""

from __future__ import annotations

from typing import Sequence

from .mlp import MLPClassifier, ProjectionHead, SimSiamPredictor, SimSiamProjector
from .resnet3d import BasicBlock3d, Bottleneck3d, ResNet3d, anisotropic_strides

__all__ = [
    "ENCODERS", "build_encoder", "ResNet3d", "BasicBlock3d", "Bottleneck3d", "anisotropic_strides",
    "ProjectionHead", "SimSiamProjector", "SimSiamPredictor", "MLPClassifier",
]

#: name -> (block, blocks per stage, widths per stage)
ENCODERS: dict[str, tuple] = {
    # ResNet-10: one basic block per stage (as MONAI's resnet10); with width_mult=0.25 (widths 16-128) it is the
    # encoder of the book's CPU profile for synapse embeddings.
    "resnet10": (BasicBlock3d, (1, 1, 1, 1), (64, 128, 256, 512)),
    "resnet18": (BasicBlock3d, (2, 2, 2, 2), (64, 128, 256, 512)),
    "resnet34": (BasicBlock3d, (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet50": (Bottleneck3d, (3, 4, 6, 3), (64, 128, 256, 512)),
    # One block per stage, narrow: the CPU profile (ecosystem notes: ~0.25 s/step at 32^3 with widths 8-64).
    "slim": (BasicBlock3d, (1, 1, 1, 1), (8, 16, 32, 64)),
}


def build_encoder(
    name: str = "resnet18",
    in_channels: int = 1,
    *,
    voxel_size_nm: Sequence[float] | None = None,
    anisotropy: float = 1.0,
    widths: Sequence[int] | None = None,
    blocks: Sequence[int] | None = None,
    width_mult: float = 1.0,
    zero_init_residual: bool = False,
    stem: str | None = None,
) -> ResNet3d:
    """Build a 3D ResNet encoder by name.

    Parameters
    ----------
    name : {"resnet10", "resnet18", "resnet34", "resnet50", "slim"}
    in_channels : int
        Input channels of the ``(N, C, D, H, W)`` cutouts.
    voxel_size_nm : (x, y, z), optional
        Voxel size in nm; z/xy ratio >= 2 gives the anisotropic stem (z kept at full resolution at first).
    anisotropy : float
        z/xy voxel ratio, used when ``voxel_size_nm`` is not given.
    widths, blocks : sequences of int, optional
        Override the named architecture's per-stage widths / block counts (e.g. ``widths=(16, 32, 64, 128)``).
    width_mult : float
        Multiplies all widths.
    stem : {"imagenet", "small"}, optional
        See :class:`ResNet3d` (default ``imagenet``). ``small`` keeps fine texture in small cutouts but costs
        ~16× more compute in the first stage: measured too slow for the CPU profiles.

    Returns
    -------
    ResNet3d
        ``encoder(x)`` maps ``(N, in_channels, D, H, W)`` to ``(N, encoder.embed_dim)``.
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}")
    block, b, w = ENCODERS[key]
    return ResNet3d(
        block=block, blocks=tuple(blocks) if blocks is not None else b,
        widths=tuple(widths) if widths is not None else w,
        in_channels=in_channels, voxel_size_nm=voxel_size_nm, anisotropy=anisotropy, width_mult=width_mult,
        zero_init_residual=zero_init_residual, stem=stem or "imagenet",
    )
