"""3D ResNet encoders for EM cutouts, with a stem that respects anisotropic voxels.

The residual architecture is He et al. 2016 ("Deep Residual Learning for Image Recognition", CVPR), inflated to 3D
as in Hara et al. 2018 ("Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and ImageNet?", CVPR):
every 3x3 convolution becomes 3x3x3, the 7x7 stem becomes 7x7x7 (or (kz,7,7) for anisotropic data), pooling is 3D.

Anisotropy: serial-section EM has z voxels several times larger than x/y voxels (e.g. 8x8x40 nm). Downsampling z
by 2 at every stage would make z collapse long before x/y, so each downsampling step here halves z only while the
current z voxel is not already coarser than ~2x the current xy voxel (the rule of the SegCLR/FlyWire anisotropic
networks, which keep z resolution until x/y "catch up"). With ``voxel_size_nm=(8, 8, 40)`` the stem and the
max-pool keep z, later stages downsample z; with isotropic voxels every step halves all three axes.

Written here (not monai's ``ResNet``) because monai offers neither per-stage anisotropic strides nor arbitrary
``widths``/``blocks`` for the slim CPU variants, and torchvision is unusable beside this torch (see ecosystem notes).

Input tensors are ``(N, C, D, H, W) = (N, C, z, y, x)``; the encoder returns the global-average-pooled embedding
``(N, embed_dim)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock3d", "Bottleneck3d", "ResNet3d", "anisotropic_strides"]


def _conv3(cin: int, cout: int, stride=(1, 1, 1)) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _shortcut(cin: int, cout: int, stride) -> nn.Module | None:
    """Projection shortcut (1x1x1 conv + BN) when a block changes shape, else None (identity)."""
    if tuple(stride) == (1, 1, 1) and cin == cout:
        return None
    return nn.Sequential(nn.Conv3d(cin, cout, kernel_size=1, stride=stride, bias=False), nn.BatchNorm3d(cout))


class BasicBlock3d(nn.Module):
    """Two 3x3x3 convolutions with an identity (or 1x1x1 projection) shortcut (He et al. 2016, ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride=(1, 1, 1)):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = _conv3(cin, width, stride)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = _conv3(width, cout)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck3d(nn.Module):
    """1x1x1 -> 3x3x3 -> 1x1x1 bottleneck with 4x expansion (He et al. 2016, ResNet-50)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride=(1, 1, 1)):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv3d(cin, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = _conv3(width, width, stride)
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, cout, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


def anisotropic_strides(anisotropy: float, n_steps: int) -> list[tuple[int, int, int]]:
    """Per-downsampling-step strides ``(z, y, x)`` that keep z until x/y reach a comparable voxel size.

    Parameters
    ----------
    anisotropy : float
        z voxel size / xy voxel size (e.g. 40 nm / 8 nm = 5.0); 1.0 for isotropic data.
    n_steps : int
        Number of downsampling steps (stem conv, max-pool, stages 2-4 = 5 for a ResNet).

    Returns
    -------
    list of (sz, sy, sx)
        xy always stride 2; z stride 2 only when the current z voxel is smaller than 2x the current xy voxel.
    """
    vxy, vz = 1.0, float(anisotropy)
    out = []
    for _ in range(n_steps):
        sz = 2 if vz < 2.0 * vxy else 1
        out.append((sz, 2, 2))
        vxy *= 2
        vz *= sz
    return out


class ResNet3d(nn.Module):
    """A 3D ResNet encoder: stem, max-pool, four residual stages, global average pool.

    Parameters
    ----------
    block : BasicBlock3d or Bottleneck3d
    blocks : sequence of int
        Residual blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18, (1, 1, 1, 1) for a slim CPU variant.
    widths : sequence of int
        Base channel width per stage, e.g. (64, 128, 256, 512); the output width is ``widths[-1] * expansion``.
    in_channels : int
        Input channels (e.g. 1 raw, or 3 = raw + pre-synaptic mask + cleft mask).
    voxel_size_nm : (x, y, z) floats, optional
        Voxel size in nm; sets ``anisotropy = z / mean(x, y)``. Overrides ``anisotropy``.
    anisotropy : float
        z / xy voxel-size ratio (1.0 = isotropic). At >= 2 the stem kernel is (3, 7, 7) instead of 7x7x7 and the
        stem/pool keep z (see :func:`anisotropic_strides`).
    width_mult : float
        Multiplies every width (rounded, >= 1) — a quick way to slim a standard architecture.
    zero_init_residual : bool
        Zero the last BN gamma of every block (Goyal et al. 2017), which helps small-batch training.
    stem : {"imagenet", "small"}
        ``imagenet``: the 7×7 stride-2 convolution and stride-2 max-pool of He et al. 2016 (4× fewer voxels per
        axis before the first stage; right for large cutouts such as 64³-129³). ``small``: one 3×3(×3) convolution
        of stride 1 and no pool — the CIFAR variant of He et al. 2016, used by SimCLR for small images — which keeps
        fine texture (synaptic vesicles are 4-7 voxels across at 8 nm) in small cutouts such as 48×48×12.

    Notes
    -----
    ``forward(x)`` takes ``(N, C, D, H, W)`` float tensors (``(z, y, x)`` order) and returns ``(N, embed_dim)``.
    ``forward_features`` returns the last feature map ``(N, embed_dim, d, h, w)``.
    """

    def __init__(
        self,
        block=BasicBlock3d,
        blocks: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        in_channels: int = 1,
        voxel_size_nm: Sequence[float] | None = None,
        anisotropy: float = 1.0,
        width_mult: float = 1.0,
        zero_init_residual: bool = False,
        stem: str = "imagenet",
    ):
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        if len(blocks) != len(widths):
            raise ValueError(f"blocks {tuple(blocks)} and widths {tuple(widths)} must have the same length")
        if voxel_size_nm is not None:
            vx, vy, vz = (float(v) for v in voxel_size_nm)
            anisotropy = vz / ((vx + vy) / 2.0)
        self.anisotropy = float(anisotropy)
        self.in_channels = int(in_channels)
        widths = [max(1, int(round(w * width_mult))) for w in widths]
        stem_w = widths[0]
        self.stem_kind = stem
        if stem == "imagenet":
            n_steps = 2 + (len(blocks) - 1)  # stem + pool + stages 2..n
            strides = anisotropic_strides(self.anisotropy, n_steps)
            kz = 7 if strides[0][0] == 2 else 3
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, stem_w, kernel_size=(kz, 7, 7), stride=strides[0],
                          padding=(kz // 2, 3, 3), bias=False),
                nn.BatchNorm3d(stem_w),
                nn.ReLU(inplace=True),
            )
            pz = 3 if strides[1][0] == 2 else 1
            self.pool = nn.MaxPool3d(kernel_size=(pz, 3, 3), stride=strides[1], padding=(pz // 2, 1, 1))
        else:
            # stages 2..n downsample; the stem and the (absent) pool keep full resolution
            strides = [(1, 1, 1), (1, 1, 1)] + anisotropic_strides(self.anisotropy, len(blocks) - 1)
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, stem_w, kernel_size=3, stride=1, padding=1, bias=False),
                nn.BatchNorm3d(stem_w),
                nn.ReLU(inplace=True),
            )
            self.pool = nn.Identity()
        stages = []
        cin = stem_w
        for i, (nb, w) in enumerate(zip(blocks, widths)):
            stride = (1, 1, 1) if i == 0 else strides[1 + i]
            layers = []
            for j in range(int(nb)):
                layers.append(block(cin, w, stride if j == 0 else (1, 1, 1)))
                cin = w * block.expansion
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.embed_dim = cin
        self.strides = strides
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck3d):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock3d):
                    nn.init.zeros_(m.bn2.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, D, H, W)`` -> last feature map ``(N, embed_dim, d, h, w)``."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected a (N, {self.in_channels}, D, H, W) tensor, got shape {tuple(x.shape)}"
            )
        x = self.pool(self.stem(x))
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, D, H, W)`` -> embedding ``(N, embed_dim)`` (global average pool of the last stage)."""
        return torch.flatten(self.avgpool(self.forward_features(x)), 1)
