"""A plain PyTorch Tiny AutoEncoder: the reference the Keras port is checked and benchmarked against.

Written for aezoo from the published checkpoints' layout (parameter names and
shapes of ``taesd_*.pth``, ``taesdxl_*``, ``taesd3_*``, ``taef1_*``, ``taef2_*``
and ``taesana_*``), so every variant's state_dict loads into it with
``strict=True``; it shares no code with the Keras builders in
``zoo.families.tae``. Images are NCHW in [0, 1]; :func:`reference_decode`
clamps the output to [0, 1] as the original's demo does.

The modules are ``nn.Sequential`` so parameter names are ``"{index}.conv.{j}.weight"``
and the like, exactly as in the checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

#: Variant name -> (latent channels, down factor, GroupNorm mid-block), as the checkpoint file names go.
VARIANTS = {
    "taesd": (4, 8, False),
    "taesdxl": (4, 8, False),
    "taesd3": (16, 8, False),
    "taef1": (16, 8, False),
    "taef2": (32, 8, True),
    "taesana": (32, 32, False),
}


def _c3(cin: int, cout: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=bias)


class TinyBlock(nn.Module):
    """relu(convs(x') + skip(x')) with x' = x + pool(x) when the GroupNorm branch is on."""

    def __init__(self, cin: int, cout: int, gn: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(_c3(cin, cout), nn.ReLU(), _c3(cout, cout), nn.ReLU(), _c3(cout, cout))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)
        self.fuse = nn.ReLU()
        self.pool = None
        if gn:
            wide = 4 * cin
            self.pool = nn.Sequential(nn.Conv2d(cin, wide, 1, bias=False), nn.GroupNorm(4, wide), nn.ReLU(),
                                      nn.Conv2d(wide, cin, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


class SoftClamp(nn.Module):
    """tanh(x / 3) * 3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3.0 * torch.tanh(x / 3.0)


def _down_stage(gn: bool = False) -> list[nn.Module]:
    return [_c3(64, 64, stride=2, bias=False), TinyBlock(64, 64, gn), TinyBlock(64, 64, gn), TinyBlock(64, 64, gn)]


def tiny_encoder(latent: int, down: int = 8, gn: bool = False) -> nn.Sequential:
    """Images (N, 3, H, W) -> latents (N, latent, H/down, W/down)."""
    if down == 8:
        head = [_c3(3, 64), TinyBlock(64, 64)]
        body = _down_stage() + _down_stage() + _down_stage(gn)
    elif down == 32:
        head = [_c3(3, 32, stride=2), nn.ReLU(), _c3(32, 64, stride=2), nn.ReLU(), TinyBlock(64, 64)]
        body = _down_stage() + _down_stage() + _down_stage()
    else:
        raise ValueError(f"down must be 8 or 32. Received: {down}")
    return nn.Sequential(*head, *body, _c3(64, latent))


def tiny_decoder(latent: int, down: int = 8, gn: bool = False) -> nn.Sequential:
    """Latents (N, latent, h, w) -> images (N, 3, h*down, w*down), unclamped."""
    widths = [64, 64, 64, 64] if down == 8 else [256, 128, 64, 64, 64, 64]
    norms = [gn, False, False] if down == 8 else [False] * 5
    layers: list[nn.Module] = [SoftClamp(), _c3(latent, widths[0]), nn.ReLU()]
    for width, nxt, norm in zip(widths[:-1], widths[1:], norms, strict=True):
        layers += [TinyBlock(width, width, norm) for _ in range(3)]
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), _c3(width, nxt, bias=False)]
    layers += [TinyBlock(widths[-1], widths[-1]), _c3(widths[-1], 3)]
    return nn.Sequential(*layers)


def build_variant(variant: str) -> tuple[nn.Sequential, nn.Sequential]:
    """Randomly initialised (encoder, decoder) of a variant name from :data:`VARIANTS`."""
    latent, down, gn = VARIANTS[variant]
    return tiny_encoder(latent, down, gn), tiny_decoder(latent, down, gn)


def load_part(module: nn.Module, path: str, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Load a checkpoint file (``strict=True``) into ``module`` and cast it to ``dtype``, in eval mode."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    module.load_state_dict(state, strict=True)
    return module.to(dtype).eval()


@torch.no_grad()
def reference_encode(encoder: nn.Module, images_nhwc) -> torch.Tensor:
    """Encode NHWC images (numpy or tensor) and return NHWC latents."""
    x = torch.as_tensor(images_nhwc).permute(0, 3, 1, 2)
    return encoder(x.to(next(encoder.parameters()).dtype)).permute(0, 2, 3, 1)


@torch.no_grad()
def reference_decode(decoder: nn.Module, latents_nhwc) -> torch.Tensor:
    """Decode NHWC latents and return NHWC images clamped to [0, 1]."""
    z = torch.as_tensor(latents_nhwc).permute(0, 3, 1, 2)
    return decoder(z.to(next(decoder.parameters()).dtype)).clamp(0, 1).permute(0, 2, 3, 1)
