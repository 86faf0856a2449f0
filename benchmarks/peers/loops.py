"""The peers' training loop and inference call, eager or ``torch.compile``: the PyTorch side of every table.

The loop is what a PyTorch user writes: data resident on the device as one
float32 tensor, a fresh permutation every epoch, ``Adam(lr=1e-3, eps=1e-7)``
(Keras' epsilon), the loss of the aezoo family (per-pixel mean binary
cross-entropy; a VAE's BCE summed per image plus the KL term, averaged over the
batch), and ``torch.autocast`` for bfloat16 mixed precision. ``compiled`` wraps
the module in ``torch.compile`` (forward and backward are compiled; the
optimizer step stays eager, as in PyTorch's tutorials).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.peers.models import ConvVAE, build_peer


def peer_loss(module: nn.Module, out, x: torch.Tensor) -> torch.Tensor:
    """The aezoo family's training loss of one batch (float32, outside autocast: BCE is unsafe to autocast)."""
    if isinstance(module, ConvVAE) or isinstance(getattr(module, "_orig_mod", None), ConvVAE):
        x_hat, z_mean, z_log_var = (t.float() for t in out)
        recon = F.binary_cross_entropy(x_hat, x, reduction="sum") / len(x)
        kl = 0.5 * torch.sum(torch.exp(z_log_var) + z_mean.square() - 1.0 - z_log_var, dim=1).mean()
        return recon + kl
    return F.binary_cross_entropy(out.float(), x)


def to_nchw(x: np.ndarray) -> np.ndarray:
    """MNIST-shaped ``(n, h, w[, c])`` images as NCHW float32."""
    x = np.asarray(x, dtype=np.float32)
    return x[:, None] if x.ndim == 3 else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeerTrainer:
    """One peer configuration that trains one more epoch per :meth:`epoch` call.

    Args:
        name: ``ae_dense``, ``ae_conv`` or ``vae_conv``.
        x: Training images in [0, 1], NHWC or ``(n, h, w)`` (moved to ``device`` once, as NCHW).
        batch_size: Examples per step.
        device: ``"cpu"`` or ``"cuda"``.
        compiled: Wrap the module in ``torch.compile``.
        precision: ``float32`` or ``bfloat16`` (autocast mixed precision).
        model_kwargs: Sizes as aezoo's builder takes them.
        seed: Seeds the weights and the shuffling.
        reuse: A dict in which trainers share their module, optimizer and compiled module by
            configuration (a sweep over batch sizes keeps training the same model).
    """

    def __init__(self, name: str, x: np.ndarray, batch_size: int, device: str = "cpu", *, compiled: bool = False,
                 precision: str = "float32", model_kwargs: dict | None = None, seed: int = 0,
                 reuse: dict | None = None):
        torch.manual_seed(seed)
        self.device = torch.device(device)
        key = (name, device, compiled, precision, repr(sorted((model_kwargs or {}).items())))
        if reuse is not None and key in reuse:
            # The same compiled module at another batch size: torch.compile recompiles once for a
            # dynamic batch dimension instead of from scratch for every batch size.
            self.module, self.optimizer, self.step_module = reuse[key]
        else:
            self.module = build_peer(name, input_shape=x.shape[1:] if x.ndim == 4 else (*x.shape[1:], 1),
                                     **(model_kwargs or {})).to(self.device)
            self.optimizer = torch.optim.Adam(self.module.parameters(), lr=1e-3, eps=1e-7)
            self.step_module = torch.compile(self.module) if compiled else self.module
            if reuse is not None:
                reuse[key] = self.module, self.optimizer, self.step_module
        self.x = torch.as_tensor(to_nchw(x), device=self.device)
        self.batch_size, self.precision = batch_size, precision
        self.steps = -(-len(self.x) // batch_size)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.warmup = self.epoch()

    def train_step(self, xb: torch.Tensor) -> torch.Tensor:
        """One optimizer step on batch ``xb``; the loss (not synchronized)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            out = self.step_module(xb)
        loss = peer_loss(self.module, out, xb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss

    def epoch(self) -> float:
        """Train one epoch over the resident data; its wall time in seconds."""
        self.module.train()
        synchronize(self.device)
        start = time.perf_counter()
        order = torch.randperm(len(self.x), device=self.device, generator=self.generator)
        for i in range(self.steps):
            loss = self.train_step(self.x[order[i * self.batch_size:(i + 1) * self.batch_size]])
        loss.item()  # the host reads the last loss, as a training log would; this also synchronizes
        return time.perf_counter() - start


def inference_call(module: nn.Module, part: str, device: str = "cpu", compiled: bool = False):
    """A callable ``x (device tensor, NCHW) -> output`` for ``part`` (``encoder`` or ``autoencoder``), no autograd.

    The encoder of a VAE returns the posterior mean, as aezoo's does.
    """
    module = module.to(device).eval()
    if part == "encoder":
        fn = module.encode if isinstance(module, ConvVAE) else module.encoder
    elif part == "autoencoder":
        fn = module
    else:
        raise ValueError(f"Peers time the encoder or the autoencoder. Received: part={part!r}")
    fn = torch.compile(fn) if compiled else fn
    dev = torch.device(device)

    def call(x: torch.Tensor):
        with torch.inference_mode():
            out = fn(x)
        synchronize(dev)
        return out

    return call
