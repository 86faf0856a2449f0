"""VQ-VAE: autoencoders with a discrete code (van den Oord, Vinyals & Kavukcuoglu, NeurIPS 2017).

The encoder maps an image to a grid of ``D``-vectors (``7 x 7 x D`` for 28x28
inputs through two stride-2 convolutions); a :class:`zoo.models.quantize.VectorQuantizer`
replaces each vector by the nearest of ``K`` codebook vectors, and the decoder
maps the grid of code vectors back to the image. An example's code is therefore
a grid of indices in ``0..K-1``: ``h * w * log2(K)`` bits (``7 * 7 * 9 = 441``
bits for ``K = 512``), against ``32 * latent_dim`` bits for a float32 code.

:class:`VQVAE` is a :class:`zoo.Autoencoder` whose ``encode`` gives the code
vectors (the default, what ``decode`` takes) or the indices, whose
``decode_indices`` decodes indices, and whose ``sample`` decodes indices drawn
independently per position from the codebook's empirical (or a uniform) prior:
no autoregressive prior (the paper's PixelCNN) is fitted, so samples show
digit-like strokes, not digits. Its parts add ``encoder_indices`` (images ->
indices) and ``index_decoder`` (indices -> images) to ``encoder``, ``decoder``
and ``autoencoder``; each is a plain ``keras.Model``.

Weights: the ``encoder`` component is the encoder network *with* the codebook
(its weights file holds both), the ``decoder`` component is the decoder; decoding
indices needs both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from zoo.models.assemble import CONV_FILTERS, DENSE_UNITS, MNIST_SHAPE
from zoo.models.autoencoder import PARTS, Autoencoder
from zoo.models.backbones import check_conv_input, dense_decoder, dense_trunk
from zoo.models.quantize import CodebookView, VectorQuantizer
from zoo.models.registry import register_model
from zoo.utils.checks import check_choice, check_input_shape, check_int_tuple, check_positive_int


@keras.saving.register_keras_serializable(package="aezoo")
class VQVAE(Autoencoder):
    """An autoencoder with a vector-quantised code: a grid of codebook indices.

    Args:
        encoder: ``keras.Model`` from inputs to the grid of vectors ``(..., D)`` the head quantises.
        decoder: ``keras.Model`` from code vectors ``(..., D)`` back to the inputs' shape.
        head: The :class:`zoo.models.quantize.VectorQuantizer` (default: 512 codes, EMA updates).
        **kwargs: Passed to :class:`zoo.Autoencoder` (``reconstruction``, ``name``...).

    Example:
        >>> model = zoo.create_model("vqvae_conv")          # 28x28 -> 7x7 indices of 512 codes
        >>> model.compile("adam"); model.fit(x_train, epochs=10)
        >>> indices = model.encode(x_test, output="indices")  # (n, 7, 7) int32
        >>> images = model.decode_indices(indices)
        >>> samples = model.sample(16, seed=0)              # independent per position: no learned prior
    """

    #: The parts :meth:`get_part` offers: the autoencoder's, and the two through the indices.
    PARTS = (*PARTS, "encoder_indices", "index_decoder")
    #: The exported interface of the parts through the indices: part -> (input tensor, output tensor).
    EXPORT_PARTS = {"encoder_indices": ("images", "indices"), "index_decoder": ("indices", "reconstructions")}
    #: Their new tensor: name -> (the attribute holding its per-example shape, dtype).
    EXPORT_TENSORS = {"indices": ("grid_shape", "int32")}

    def __init__(self, encoder: keras.Model, decoder: keras.Model, head: VectorQuantizer | None = None,
                 **kwargs) -> None:
        head = VectorQuantizer(name="quantizer") if head is None else head
        if not isinstance(head, VectorQuantizer):
            raise ValueError(f"A VQVAE's head is a VectorQuantizer. Received: head={type(head).__name__}")
        super().__init__(encoder, decoder, head=head, **kwargs)
        # The deterministic encoder quantises: the network, then the nearest code vectors. Like the
        # base class's view it shares the network's (and the codebook's) variables, so it is not tracked.
        view = keras.Model(encoder.inputs, head.deterministic(encoder.outputs), name="encoder")
        object.__setattr__(self, "encoder", view)
        object.__setattr__(self, "_parts", {})

    # ---- what the code is ------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        """``D``, the size of one code vector (the code is a grid ``(*grid_shape, D)`` of them)."""
        return int(self.code_shape[-1])

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Per-example shape of the grid of indices (``(7, 7)`` for 28x28 inputs)."""
        return tuple(self.code_shape[:-1])

    @property
    def codebook_size(self) -> int:
        """``K``, the number of codes."""
        return self.head.codebook_size

    @property
    def code_bits(self) -> float:
        """Bits in one example's code: ``prod(grid_shape) * log2(K)``."""
        return math.prod(self.grid_shape) * math.log2(self.codebook_size)

    @property
    def components(self) -> dict[str, keras.Model]:
        """``encoder`` (the network and the codebook) and ``decoder``: one weights file each."""
        return {"encoder": self.encoder, "decoder": self.decoder}

    def get_part(self, part: str) -> keras.Model:
        """The deterministic ``keras.Model`` of ``part`` (one of :attr:`PARTS`).

        ``"encoder"``: images -> code vectors (quantised); ``"encoder_indices"``:
        images -> ``int32`` indices ``(batch, *grid_shape)``; ``"index_decoder"``:
        indices -> reconstructions; ``"decoder"`` and ``"autoencoder"`` as for
        every :class:`zoo.Autoencoder`.
        """
        check_choice("part", part, self.PARTS)
        if part not in ("encoder_indices", "index_decoder"):
            return super().get_part(part)
        if part not in self._parts:
            if part == "encoder_indices":
                net = self.encoder_network
                indices = CodebookView(self.head, "indices", name="indices")(net.outputs[0])
                graph = keras.Model(net.inputs, indices, name="encoder_indices")
            else:
                indices = keras.Input(shape=self.grid_shape, dtype="int32", name="indices")
                vectors = CodebookView(self.head, "lookup", name="lookup")(indices)
                graph = keras.Model(indices, self.decoder(vectors), name="index_decoder")
            self._parts[part] = graph
        return self._parts[part]

    # ---- inference -------------------------------------------------------------
    def encode(self, x, batch_size: int = 256, output: str = "vectors") -> np.ndarray:
        """Codes of inputs ``x``: the quantised vectors ``(batch, *code_shape)`` or the indices.

        Args:
            x: Inputs ``(batch, *data_shape)``.
            batch_size: Inference batch size.
            output: ``"vectors"`` (what :meth:`decode` takes) or ``"indices"``
                (``int32`` ``(batch, *grid_shape)``, what :meth:`decode_indices` takes).
        """
        check_choice("output", output, ("vectors", "indices"))
        if output == "vectors":
            return super().encode(x, batch_size)
        x = self.prepare_input(x, "encode")
        batch_size = check_positive_int("batch_size", batch_size)
        return self.get_part("encoder_indices").predict(x, batch_size=batch_size, verbose=0)

    def check_indices(self, indices, what: str = "decode_indices") -> np.ndarray:
        """``indices`` as ``int32`` ``(batch, *grid_shape)`` if they are integers in 0..K-1, else raise."""
        idx = np.asarray(indices)
        want = "(batch, " + ", ".join(map(str, self.grid_shape)) + ")"
        if idx.ndim != len(self.grid_shape) + 1 or tuple(idx.shape[1:]) != self.grid_shape or not len(idx):
            raise ValueError(f"{what}: expected indices of shape {want}. Received: shape={idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"{what}: expected integer indices. Received: dtype={idx.dtype}")
        if idx.min() < 0 or idx.max() >= self.codebook_size:
            raise ValueError(f"{what}: indices must lie in 0..{self.codebook_size - 1}. "
                             + f"Received: min={idx.min()}, max={idx.max()}")
        return idx.astype(np.int32)

    def decode_indices(self, indices, batch_size: int = 256) -> np.ndarray:
        """Reconstructions ``(batch, *data_shape)`` from indices ``(batch, *grid_shape)``."""
        idx = self.check_indices(indices)
        batch_size = check_positive_int("batch_size", batch_size)
        return self.get_part("index_decoder").predict(idx, batch_size=batch_size, verbose=0)

    def sample(self, n: int, seed: int | None = None, batch_size: int = 256,
               prior: str = "empirical") -> np.ndarray:
        """``n`` images decoded from indices drawn independently per position (no learned prior).

        Args:
            n: Number of images.
            seed: Seed of the draw (numpy's ``default_rng``, so the same seed gives the
                same indices on every backend); None draws fresh ones.
            batch_size: Decoding batch size.
            prior: ``"empirical"``: each code with probability proportional to its moving
                count of uses in training (``VectorQuantizer.prior``); ``"uniform"``: 1/K each.

        Returns:
            Images ``(n, *data_shape)`` in the model's output range.
        """
        n = check_positive_int("n", n)
        indices = self.head.prior_indices(n, self.grid_shape, np.random.default_rng(seed), prior)
        return self.decode_indices(indices, batch_size=batch_size)


def grid_encoder(input_shape: Sequence[int], filters: Sequence[int], head: VectorQuantizer,
                 latent_dim: int) -> keras.Model:
    """Stride-2 3x3 ReLU convolutions, one per entry of ``filters``, then the head's 1x1 projection to D."""
    h, w, c = check_conv_input(input_shape, filters)
    inputs = keras.Input(shape=tuple(input_shape), name="inputs")
    x = layers.Reshape((h, w, 1), name="add_channel")(inputs) if len(input_shape) == 2 else inputs
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}")(x)
    return keras.Model(inputs, head.encoder_outputs(x, latent_dim), name=head.network_name)


def grid_decoder(latent_dim: int, output_shape: Sequence[int], output_activation: str,
                 filters: Sequence[int]) -> keras.Model:
    """Mirror of :func:`grid_encoder`: a 3x3 convolution on the grid, then transposed convolutions."""
    h, w, c = check_conv_input(output_shape, filters)
    factor = 2 ** len(filters)
    z = keras.Input(shape=(h // factor, w // factor, latent_dim), name="code")
    x = layers.Conv2D(filters[-1], 3, padding="same", activation="relu", name="project")(z)
    for i, f in enumerate([*list(reversed(filters))[1:], filters[0]]):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu", name=f"deconv_{i}")(x)
    x = layers.Conv2D(c, 3, padding="same", activation=output_activation, name="output")(x)
    if len(output_shape) == 2:
        x = layers.Reshape(tuple(output_shape), name="drop_channel")(x)
    return keras.Model(z, x, name="decoder")


def _quantizer(codebook_size, beta, ema, decay, epsilon, restart_threshold, latent_dim, seed):
    return VectorQuantizer(codebook_size, beta=beta, ema=ema, decay=decay, epsilon=epsilon,
                           restart_threshold=restart_threshold, embedding_dim=latent_dim, seed=seed,
                           name="quantizer")


@register_model
def vqvae_conv(input_shape=MNIST_SHAPE, latent_dim=16, filters=CONV_FILTERS, codebook_size=512, beta=0.25,
               ema=True, decay=0.99, epsilon=1e-5, restart_threshold=1.0, seed=None) -> VQVAE:
    """Convolutional VQ-VAE: a grid of codebook indices (7x7 of 512 codes for 28x28 inputs).

    Args:
        input_shape: Image shape; sides divisible by ``2 ** len(filters)``.
        latent_dim: ``D``, the size of each code vector.
        filters: Filters of the stride-2 convolutions (each halves the grid's sides).
        codebook_size: ``K``, the number of codes.
        beta: Commitment weight β.
        ema: Moving-average codebook updates (else the codebook loss).
        decay: Decay of the moving averages.
        epsilon: Laplace smoothing of the moving counts.
        restart_threshold: With ``ema``, codes used less than this per batch restart at an encoder output.
        seed: Seed of the codebook's initial values.
    """
    input_shape = check_input_shape(input_shape)
    filters = check_int_tuple("filters", filters, allow_empty=False)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    head = _quantizer(codebook_size, beta, ema, decay, epsilon, restart_threshold, latent_dim, seed)
    return VQVAE(grid_encoder(input_shape, filters, head, latent_dim),
                 grid_decoder(latent_dim, input_shape, "sigmoid", filters), head=head, name="vqvae_conv")


@register_model
def vqvae_dense(input_shape=MNIST_SHAPE, latent_dim=16, hidden_units=DENSE_UNITS, code_positions=16,
                codebook_size=512, beta=0.25, ema=True, decay=0.99, epsilon=1e-5, restart_threshold=1.0,
                seed=None) -> VQVAE:
    """Dense VQ-VAE: ``code_positions`` codebook indices per example from a dense encoder.

    Args:
        input_shape: Input shape.
        latent_dim: ``D``, the size of each code vector.
        hidden_units: Hidden layers of the encoder (the decoder mirrors them).
        code_positions: Indices per example (the dense layer's output is ``code_positions x D``).
        codebook_size: ``K``, the number of codes.
        beta: Commitment weight β.
        ema: Moving-average codebook updates (else the codebook loss).
        decay: Decay of the moving averages.
        epsilon: Laplace smoothing of the moving counts.
        restart_threshold: With ``ema``, codes used less than this per batch restart at an encoder output.
        seed: Seed of the codebook's initial values.
    """
    input_shape = check_input_shape(input_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    positions = check_positive_int("code_positions", code_positions)
    head = _quantizer(codebook_size, beta, ema, decay, epsilon, restart_threshold, latent_dim, seed)
    inputs = keras.Input(shape=input_shape, name="inputs")
    flat = head.encoder_outputs(dense_trunk(inputs, input_shape, hidden_units), positions * latent_dim)
    encoder = keras.Model(inputs, layers.Reshape((positions, latent_dim), name="grid")(flat), name="encoder")
    z = keras.Input(shape=(positions, latent_dim), name="code")
    inner = dense_decoder(positions * latent_dim, input_shape, "sigmoid", hidden_units)
    decoder = keras.Model(z, inner(layers.Flatten(name="flatten")(z)), name="decoder")
    return VQVAE(encoder, decoder, head=head, name="vqvae_dense")
