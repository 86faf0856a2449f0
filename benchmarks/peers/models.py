"""PyTorch modules mirroring aezoo's ``ae_dense``, ``ae_conv`` and ``vae_conv`` layer for layer.

Images are NCHW, as PyTorch users keep them. Where Keras and PyTorch differ by
convention the peer follows Keras' arithmetic, so that the two compute the same
function: "same" padding of a stride-2 convolution pads the bottom/right only
(TensorFlow's rule), a stride-2 transposed convolution keeps the first ``2n``
rows and columns, and Adam's epsilon is Keras' 1e-7 (``loops.py``). Kernels start
glorot-uniform and biases at zero, as Keras' layers do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's "same" rule along one axis."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``Conv2d`` with Keras' "same" padding (asymmetric for even sizes at stride 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = _same_pad(x.shape[-2], kh, sh)
        left, right = _same_pad(x.shape[-1], kw, sw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class SameConvTranspose2d(nn.ConvTranspose2d):
    """``ConvTranspose2d`` whose output is ``stride x`` the input, aligned as Keras' "same"."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] * self.stride[0], x.shape[-1] * self.stride[1]
        return super().forward(x)[..., :h, :w]


def _init(module: nn.Module) -> nn.Module:
    """Glorot-uniform kernels and zero biases (Keras' defaults) on every layer with weights."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


def _dense_stack(sizes: Sequence[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return layers


class DenseAE(nn.Module):
    """``ae_dense``: flatten, ReLU dense layers, a linear code, the mirror, a sigmoid output."""

    def __init__(self, input_shape=(28, 28, 1), latent_dim: int = 32, hidden_units: Sequence[int] = (512, 256)):
        super().__init__()
        self.input_shape = tuple(input_shape)
        n = int(torch.tensor(self.input_shape).prod())
        self.encoder = nn.Sequential(nn.Flatten(), *_dense_stack([n, *hidden_units]),
                                     nn.Linear(hidden_units[-1] if hidden_units else n, latent_dim))
        back = [latent_dim, *reversed(hidden_units)]
        self.decoder = nn.Sequential(*_dense_stack(back), nn.Linear(back[-1], n), nn.Sigmoid())
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x)).view(x.shape)


class ConvEncoder(nn.Module):
    """Stride-2 3x3 ReLU convolutions, flatten, then one dense head per output (code, or mean and log-variance)."""

    def __init__(self, input_shape, filters: Sequence[int], latent_dim: int, heads: int = 1):
        super().__init__()
        h, w, c = input_shape
        convs: list[nn.Module] = []
        for f_in, f_out in zip([c, *filters[:-1]], filters, strict=True):
            convs += [SameConv2d(f_in, f_out, 3, stride=2), nn.ReLU()]
        self.trunk = nn.Sequential(*convs, nn.Flatten())
        features = filters[-1] * (h >> len(filters)) * (w >> len(filters))
        self.heads = nn.ModuleList(nn.Linear(features, latent_dim) for _ in range(heads))

    def forward(self, x: torch.Tensor):
        features = self.trunk(x)
        out = [head(features) for head in self.heads]
        return out[0] if len(out) == 1 else out


class ConvDecoder(nn.Module):
    """Dense projection, reshape, stride-2 transposed convolutions, a 3x3 sigmoid output convolution."""

    def __init__(self, output_shape, filters: Sequence[int], latent_dim: int):
        super().__init__()
        h, w, c = output_shape
        self.grid = (filters[-1], h >> len(filters), w >> len(filters))
        self.project = nn.Linear(latent_dim, self.grid[0] * self.grid[1] * self.grid[2])
        widths = list(reversed(filters))[1:] + [filters[0]]
        deconvs: list[nn.Module] = []
        for f_in, f_out in zip([filters[-1], *widths[:-1]], widths, strict=True):
            deconvs += [SameConvTranspose2d(f_in, f_out, 3, stride=2), nn.ReLU()]
        self.body = nn.Sequential(*deconvs, SameConv2d(widths[-1], c, 3), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(F.relu(self.project(z)).view(-1, *self.grid))


class ConvAE(nn.Module):
    """``ae_conv``: :class:`ConvEncoder` with one linear code head, :class:`ConvDecoder`."""

    def __init__(self, input_shape=(28, 28, 1), latent_dim: int = 32, filters: Sequence[int] = (32, 64)):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.encoder = ConvEncoder(input_shape, filters, latent_dim)
        self.decoder = ConvDecoder(input_shape, filters, latent_dim)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ConvVAE(nn.Module):
    """``vae_conv``: posterior heads ``z_mean``/``z_log_var``, reparameterized sample in training, the mean otherwise."""

    def __init__(self, input_shape=(28, 28, 1), latent_dim: int = 16, filters: Sequence[int] = (32, 64)):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.encoder = ConvEncoder(input_shape, filters, latent_dim, heads=2)
        self.decoder = ConvDecoder(input_shape, filters, latent_dim)
        _init(self)

    def forward(self, x: torch.Tensor):
        z_mean, z_log_var = self.encoder(x)
        if not self.training:
            return self.decoder(z_mean)
        z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)
        return self.decoder(z), z_mean, z_log_var

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean (what aezoo's VAE encoder and exports return)."""
        return self.encoder(x)[0]


#: aezoo model name -> peer module class.
PEERS = {"ae_dense": DenseAE, "ae_conv": ConvAE, "vae_conv": ConvVAE}


def build_peer(name: str, **kwargs) -> nn.Module:
    """The peer of aezoo model ``name`` (``input_shape``, ``latent_dim``, ``hidden_units``/``filters`` as aezoo's)."""
    if name not in PEERS:
        raise ValueError(f"No PyTorch peer for {name!r}; peers exist for {', '.join(PEERS)}.")
    return PEERS[name](**kwargs)


def _flatten_order(shape: tuple[int, int, int]) -> torch.Tensor:
    """Index map from PyTorch's CHW flatten order to Keras' HWC one."""
    c, h, w = shape
    return torch.arange(h * w * c).view(h, w, c).permute(2, 0, 1).reshape(-1)


def copy_keras_weights(peer: nn.Module, model) -> nn.Module:
    """Load the weights of aezoo ``model`` (``ae_dense``, ``ae_conv`` or ``vae_conv``) into ``peer``.

    Layers are matched in order; Keras kernels are transposed to PyTorch's
    layouts, and the dense layers next to a flatten/reshape get their rows or
    columns reordered from HWC to CHW.

    Returns:
        ``peer``, for chaining.
    """
    import keras

    kinds = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)
    keras_layers = [layer for part in model.components.values() for layer in part._flatten_layers()
                    if isinstance(layer, kinds)]
    torch_layers = [m for m in peer.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    if len(keras_layers) != len(torch_layers):
        raise ValueError(f"{model.name} has {len(keras_layers)} weight layers, the peer {len(torch_layers)}.")
    grid = getattr(getattr(peer, "decoder", None), "grid", None)
    with torch.no_grad():
        for src, dst in zip(keras_layers, torch_layers, strict=True):
            kernel = torch.as_tensor(keras.ops.convert_to_numpy(src.kernel))
            if isinstance(dst, nn.Linear):
                kernel = kernel.T
                if grid and dst.in_features == grid[0] * grid[1] * grid[2]:
                    kernel = kernel[:, _flatten_order(grid)]  # a code head after the trunk's flatten
                if grid and dst is peer.decoder.project:
                    kernel = kernel[_flatten_order(grid)]
                    bias = torch.as_tensor(keras.ops.convert_to_numpy(src.bias))[_flatten_order(grid)]
                    dst.weight.copy_(kernel)
                    dst.bias.copy_(bias)
                    continue
            else:
                kernel = kernel.permute(3, 2, 0, 1)
            dst.weight.copy_(kernel)
            dst.bias.copy_(torch.as_tensor(keras.ops.convert_to_numpy(src.bias)))
    return peer


def peer_kwargs(model) -> dict:
    """The peer's constructor arguments read off an aezoo model's layers (pretrained entries included)."""
    import keras

    layers = list(model.encoder_network._flatten_layers())
    convs = [layer.filters for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    sizes = {"filters": tuple(convs)} if convs else {
        "hidden_units": tuple(layer.units for layer in layers if isinstance(layer, keras.layers.Dense))[:-1]}
    return {"input_shape": model.data_shape, "latent_dim": model.latent_dim, **sizes}
