"""The ``Autoencoder`` model and the two families whose objective differs (VAE, contractive).

Each model is a functional graph built inside a subclassed ``keras.Model``:
its constructor takes the parts, ``get_config`` lists them again, and a
``.keras`` file round-trips with ``safe_mode`` on.
"""

from __future__ import annotations

import copy

import keras
import numpy as np
from keras import ops

from zoo.checks import check_batch, check_choice, check_non_negative, check_shape
from zoo.layers import Corruption, GaussianSampling
from zoo.losses import RECONSTRUCTIONS, jacobian_frobenius_sq, reconstruction_error


#: The functional parts every autoencoder offers through :meth:`Autoencoder.get_part`.
PARTS = ("encoder", "decoder", "autoencoder")


def _serialize(obj):
    return None if obj is None else keras.saving.serialize_keras_object(obj)


def _deserialize(config):
    return None if config is None else keras.saving.deserialize_keras_object(config)


def _spec_shape(data):
    """Per-batch shape of a ``tf.data.Dataset``'s inputs, or None for other inputs."""
    spec = getattr(data, "element_spec", None)
    if spec is None:
        return None
    while isinstance(spec, (tuple, list)):
        spec = spec[0]
    return tuple(spec.shape)


@keras.saving.register_keras_serializable(package="aezoo")
class Autoencoder(keras.Model):
    """An encoder, a decoder and an optional input corruption, trained to reconstruct.

    ``model(x)`` reconstructs ``x``. ``model.compile(optimizer)`` then
    ``model.fit(x)`` trains it with no targets: the loss is the reconstruction
    error against the *clean* input, plus every penalty the layers add (sparsity
    on the code, KL of a VAE).

    Args:
        encoder: ``keras.Model`` from inputs to codes.
        decoder: ``keras.Model`` from codes back to the input shape.
        corruption: Optional :class:`zoo.layers.Corruption` applied to the input
            in training only (denoising autoencoders).
        reconstruction: ``"bce"`` for inputs in [0, 1] with sigmoid outputs,
            ``"mse"`` otherwise.
        **kwargs: ``keras.Model`` arguments such as ``name``.

    Example:
        >>> model = zoo.create_model("ae_dense", input_shape=(28, 28, 1), latent_dim=32)
        >>> model.compile("adam")
        >>> model.fit(x_train, epochs=5)
        >>> codes = model.encode(x_test)
    """

    #: How the reconstruction error is reduced over an example's features.
    reduction = "mean"

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        corruption: Corruption | None = None,
        reconstruction: str = "bce",
        **kwargs,
    ) -> None:
        inputs = keras.Input(shape=encoder.input_shape[1:], name="inputs")
        x = corruption(inputs) if corruption is not None else inputs
        outputs = decoder(encoder(x))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self._setup(corruption, reconstruction)

    def _setup(self, corruption: Corruption | None, reconstruction: str) -> None:
        self.corruption = corruption
        self.reconstruction = check_choice("reconstruction", reconstruction, RECONSTRUCTIONS)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.penalty_tracker = keras.metrics.Mean(name="penalty")

    # Shapes without the batch axis.
    @property
    def data_shape(self) -> tuple:
        return tuple(self.input_shape[1:])

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.input_shape[-1])

    @property
    def code_shape(self) -> tuple:
        """Per-example shape of the code the decoder takes (without the batch axis)."""
        return tuple(self.decoder.input_shape[1:])

    def get_part(self, part: str) -> keras.Model:
        """The deterministic ``keras.Model`` of ``part`` (one of :data:`PARTS`).

        ``"encoder"`` maps inputs to codes (a VAE's posterior mean),
        ``"decoder"`` codes to reconstructions, and ``"autoencoder"`` is
        ``decoder(encoder(x))``: no training-only corruption, no sampling.
        """
        check_choice("part", part, PARTS)
        if part == "encoder":
            return self.encoder
        if part == "decoder":
            return self.decoder
        inputs = keras.Input(shape=self.data_shape, name="inputs")
        return keras.Model(inputs, self.decoder(self.encoder(inputs)), name=f"{self.name}_autoencoder")

    # ---- training objective -------------------------------------------------
    def penalty(self, x, training: bool = False):
        """Extra terms of the objective beyond reconstruction (a scalar)."""
        losses = self.losses
        return ops.sum(ops.stack([ops.cast(v, "float32") for v in losses])) if losses else ops.zeros(())

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = x if y is None else y
        per_example = reconstruction_error(target, y_pred, self.reconstruction, self.reduction)
        if sample_weight is not None:
            w = ops.cast(ops.reshape(sample_weight, (-1,)), per_example.dtype)
            recon = ops.sum(per_example * w) / ops.maximum(ops.sum(w), 1e-12)
        else:
            recon = ops.mean(per_example)
        penalty = ops.cast(self.penalty(x, training=training), recon.dtype)
        # Weighted by batch size, as Keras weights its own loss tracker, so the
        # epoch means add up even when the last batch is smaller.
        batch = ops.cast(ops.shape(per_example)[0], recon.dtype)
        self.reconstruction_tracker.update_state(recon, sample_weight=batch)
        self.penalty_tracker.update_state(penalty, sample_weight=batch)
        return recon + penalty

    # ---- inference helpers --------------------------------------------------
    def _check_data(self, x, what: str, expected=None) -> None:
        expected = self.data_shape if expected is None else expected
        shape = _spec_shape(x)
        if shape is not None:
            check_shape(shape, expected, what)
        elif x is not None and not callable(getattr(x, "__next__", None)):
            check_batch(x, expected, what)

    def encode(self, x, batch_size: int = 256) -> np.ndarray:
        """Map inputs ``(batch, *data_shape)`` to codes ``(batch, latent_dim)`` (deterministic)."""
        self._check_data(x, "encode")
        return self.encoder.predict(x, batch_size=batch_size, verbose=0)

    def decode(self, z, batch_size: int = 256) -> np.ndarray:
        """Map codes ``(batch, latent_dim)`` to reconstructions ``(batch, *data_shape)``."""
        self._check_data(z, "decode", (self.latent_dim,))
        return self.decoder.predict(z, batch_size=batch_size, verbose=0)

    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_data(x, "fit")
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_data(x, "evaluate")
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_data(x, "predict")
        return super().predict(x, *args, **kwargs)

    # ---- serialization ------------------------------------------------------
    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": _serialize(self.encoder),
            "decoder": _serialize(self.decoder),
            "corruption": _serialize(self.corruption),
            "reconstruction": self.reconstruction,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = copy.deepcopy(config)  # deserialization consumes nested dicts
        for key in ("encoder", "decoder", "posterior", "corruption"):
            if key in config:
                config[key] = _deserialize(config[key])
        return cls(**config)


@keras.saving.register_keras_serializable(package="aezoo")
class ContractiveAutoencoder(Autoencoder):
    """Autoencoder penalised by ``contractive * ||J_f(x)||_F²`` (Rifai et al., 2011).

    ``J_f`` is the Jacobian of the encoder with respect to its input, computed
    exactly by automatic differentiation, so any encoder works.

    Args:
        encoder: ``keras.Model`` from inputs to codes.
        decoder: ``keras.Model`` from codes back to inputs.
        contractive: Weight λ >= 0 of the Jacobian penalty.
        **kwargs: Passed to :class:`Autoencoder`.
    """

    def __init__(self, encoder, decoder, contractive: float = 1e-4, **kwargs) -> None:
        self.contractive = check_non_negative("contractive", contractive)
        super().__init__(encoder, decoder, **kwargs)

    def penalty(self, x, training: bool = False):
        base = super().penalty(x, training)
        if self.contractive == 0.0:
            return base
        jac = jacobian_frobenius_sq(lambda t: self.encoder(t, training=training), x)
        return base + self.contractive * ops.mean(jac)

    def get_config(self) -> dict:
        return {**super().get_config(), "contractive": self.contractive}


@keras.saving.register_keras_serializable(package="aezoo")
class VAE(Autoencoder):
    """β-VAE with a diagonal Gaussian posterior and a N(0, I) prior (Kingma & Welling, 2014).

    The loss is the reconstruction error summed over features (nats per
    example with ``"bce"``) plus ``beta * KL``; with β = 1 it is the negative
    ELBO. ``encode`` and ``.encoder`` return the posterior mean, so they are
    deterministic and export without random ops.

    Args:
        posterior: ``keras.Model`` from inputs to ``[z_mean, z_log_var]``.
        decoder: ``keras.Model`` from codes back to inputs.
        beta: Weight β >= 0 of the KL term.
        seed: Seed of the sampling noise.
        corruption: Optional training-only input corruption.
        reconstruction: ``"bce"`` or ``"mse"``.
        **kwargs: ``keras.Model`` arguments such as ``name``.
    """

    reduction = "sum"

    def __init__(
        self,
        posterior: keras.Model,
        decoder: keras.Model,
        beta: float = 1.0,
        seed: int | None = None,
        corruption: Corruption | None = None,
        reconstruction: str = "bce",
        **kwargs,
    ) -> None:
        sampling = GaussianSampling(beta=beta, seed=seed, name="sampling")
        inputs = keras.Input(shape=posterior.input_shape[1:], name="inputs")
        x = corruption(inputs) if corruption is not None else inputs
        z_mean, z_log_var = posterior(x)
        outputs = decoder(sampling([z_mean, z_log_var]))
        # Skip Autoencoder.__init__ (it builds a different graph) but keep Keras'
        # functional set-up, which rewrites the class bases on first use.
        super(Autoencoder, self).__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.posterior = posterior
        self.decoder = decoder
        self.sampling = sampling
        self.beta = sampling.beta
        self.seed = seed
        # Derived view sharing the posterior's layers; kept out of Keras' tracking
        # so its variables are not saved twice.
        mean_only = keras.Model(posterior.inputs, posterior.outputs[0], name="encoder")
        object.__setattr__(self, "encoder", mean_only)
        self._setup(corruption, reconstruction)

    def encode_distribution(self, x, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Return the posterior ``(z_mean, z_log_var)`` for inputs ``x``."""
        self._check_data(x, "encode_distribution")
        z_mean, z_log_var = self.posterior.predict(x, batch_size=batch_size, verbose=0)
        return z_mean, z_log_var

    def get_config(self) -> dict:
        config = super().get_config()
        del config["encoder"]
        return {**config, "posterior": _serialize(self.posterior), "beta": self.beta, "seed": self.seed}
