"""The ``Autoencoder`` model, and the two subclasses whose objective really differs (VAE, contractive).

Every autoencoder is ``decoder(head(encoder(corruption(x))))``: an encoder
network, a code head (:mod:`zoo.models.heads`), a decoder and an optional training-only
corruption. The model asks its head and corruption for everything that differs
between families, so nothing else in aezoo switches on class or layer names.
Each model is a functional graph built inside a subclassed ``keras.Model``: its
constructor takes the parts, ``get_config`` lists them again, and a ``.keras``
file round-trips with ``safe_mode`` on.
"""

from __future__ import annotations

import copy

import keras
import numpy as np
from keras import ops

from zoo.models import backend
from zoo.models.heads import CodeHead, GaussianSampling
from zoo.models.layers import Corruption
from zoo.models.losses import RECONSTRUCTIONS, jacobian_frobenius_sq, reconstruction_error
from zoo.utils.checks import check_choice, check_non_negative, check_positive_int
from zoo.utils.inputs import UNIT_RANGE, as_model_input

#: The functional parts every autoencoder offers through :meth:`Autoencoder.get_part`.
PARTS = ("encoder", "decoder", "autoencoder")


def _serialize(obj):
    return None if obj is None else keras.saving.serialize_keras_object(obj)


def _is_serialized_object(value) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


@keras.saving.register_keras_serializable(package="aezoo")
class Autoencoder(keras.Model):
    """An encoder, a code head, a decoder and an optional input corruption, trained to reconstruct.

    ``model(x)`` reconstructs ``x``. ``model.compile(optimizer)`` then
    ``model.fit(x)`` trains it with no targets: the loss is the reconstruction
    error against the *clean* input, plus every term the head and layers add
    (sparsity on the code, KL of a VAE, MMD of a WAE).

    Args:
        encoder: ``keras.Model`` from inputs to what the head takes (the code
            for the plain head; ``[z_mean, z_log_var]`` for a VAE's).
        decoder: ``keras.Model`` from codes back to the input shape.
        head: A :class:`zoo.models.heads.CodeHead` (default: the plain head).
        corruption: Optional :class:`zoo.models.layers.Corruption` applied to the input
            in training only (denoising autoencoders).
        reconstruction: ``"bce"`` for inputs in [0, 1] with sigmoid outputs,
            ``"mse"`` otherwise.
        source: Where the weights came from, e.g. ``{"pretrained": "ae_conv.mnist",
            "parts": ["encoder", "decoder"]}``; saved with the model. The first
            training step of a pretrained model turns it into
            ``{"fine_tuned_from": "ae_conv.mnist", "pretrained_parts": [...]}``: its
            weights are no longer the entry's (:attr:`fine_tuned_from`).
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
        head: CodeHead | None = None,
        corruption: Corruption | None = None,
        reconstruction: str = "bce",
        source: dict | None = None,
        **kwargs,
    ) -> None:
        head = CodeHead(name="code_head") if head is None else head
        inputs = keras.Input(shape=encoder.input_shape[1:], name="inputs")
        x = corruption(inputs) if corruption is not None else inputs
        outputs = decoder(head(encoder(x)))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder_network = encoder
        self.decoder = decoder
        self.head = head
        self.corruption = corruption
        self.reconstruction = check_choice("reconstruction", reconstruction, RECONSTRUCTIONS)
        self.set_source(source)
        # The deterministic encoder: the network itself, or a view through the head's
        # deterministic path. A view shares the network's layers, so it is kept out of
        # Keras' tracking and its variables are not saved twice.
        encoder_view = encoder
        if head.stochastic:
            encoder_view = keras.Model(encoder.inputs, head.deterministic(encoder.outputs), name="encoder")
        object.__setattr__(self, "encoder", encoder_view)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.penalty_tracker = keras.metrics.Mean(name="penalty")

    # ---- what the model is made of --------------------------------------------
    @property
    def data_shape(self) -> tuple:
        """Per-example input shape (without the batch axis)."""
        return tuple(self.input_shape[1:])

    @property
    def latent_dim(self) -> int:
        """Number of values in one example's code."""
        return int(np.prod(self.code_shape))

    @property
    def code_shape(self) -> tuple:
        """Per-example shape of the code the decoder takes (without the batch axis)."""
        return tuple(self.decoder.input_shape[1:])

    @property
    def components(self) -> dict[str, keras.Model]:
        """The weight-holding sub-models by name (what pretrained entries store one file each for)."""
        return {self.head.network_name: self.encoder_network, "decoder": self.decoder}

    @property
    def pretrained_name(self) -> str | None:
        """The pretrained entry this model's weights came from, if any (kept by ``.keras`` files)."""
        return (self.source or {}).get("pretrained")

    @property
    def fine_tuned_from(self) -> str | None:
        """The pretrained entry this model started from before it was trained further, if any."""
        return (self.source or {}).get("fine_tuned_from")

    @property
    def provenance(self) -> str | None:
        """Where the weights came from in words: ``"pretrained NAME"``, ``"fine-tuned from NAME"`` or None."""
        if self.pretrained_name:
            return f"pretrained {self.pretrained_name}"
        return f"fine-tuned from {self.fine_tuned_from}" if self.fine_tuned_from else None

    @property
    def loaded_parts(self) -> tuple[str, ...] | None:
        """Components whose weights were loaded from :attr:`pretrained_name` (None if not pretrained)."""
        parts = (self.source or {}).get("parts")
        return None if parts is None else tuple(parts)

    def set_source(self, source: dict | None) -> None:
        """Record where the weights came from (see ``source`` in the class arguments)."""
        object.__setattr__(self, "source", copy.deepcopy(source) or None)

    def _steps_done(self) -> int:
        """Optimizer steps taken so far (0 before the optimizer exists)."""
        optimizer = getattr(self, "optimizer", None)
        return 0 if optimizer is None or not optimizer.built else int(ops.convert_to_numpy(optimizer.iterations))

    def _after_training(self, steps_before: int) -> None:
        """A pretrained model that took a training step is now fine-tuned from its entry (provenance follows)."""
        name = self.pretrained_name
        if name is not None and self._steps_done() > steps_before:
            self.set_source({"fine_tuned_from": name, "pretrained_parts": list(self.loaded_parts or ())})

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
        """Extra terms of the objective beyond reconstruction (a scalar): every ``add_loss`` term."""
        losses = backend.this_replica(self.losses)
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
        # Under tf.distribute each replica's loss is weighted by its share of the global batch
        # (Keras' own losses divide by the replica count; a compute_loss override must do it
        # itself, or the summed gradients grow with the replicas). Penalties that are already
        # global (KL sparsity, MMD) are then counted once; per-shard means add up to global ones.
        return (recon + penalty) * ops.cast(backend.global_batch_fraction(per_example), recon.dtype)

    def get_metrics_result(self):
        return backend.for_multi_worker_reduction(super().get_metrics_result())

    @property
    def prefers_xla_on_cpu(self) -> bool:
        """Whether XLA speeds this model up on a CPU (measured by ``benchmarks/train_throughput.py``).

        Convolutions were about 1.5x slower under XLA there, and input
        corruption about 5x (its CPU random kernels); dense models gain.
        """
        convolutional = any(isinstance(layer, keras.layers.Conv2D) for layer in self._flatten_layers())
        return not (convolutional or self.corruption is not None)

    # ---- what the model reports ---------------------------------------------
    def evaluation_metrics(self, x: np.ndarray, codes: np.ndarray, *, seed: int = 0,
                           batch_size: int = 512) -> dict:
        """The family's own metrics on test data ``x`` (from its head and corruption)."""
        out = self.head.evaluation_metrics(self, x, codes, seed=seed, batch_size=batch_size)
        if self.corruption is not None:
            out.update(self.corruption.evaluation_metrics(self, x, codes, seed=seed, batch_size=batch_size))
        return out

    def summarize_metrics(self, card_metrics: dict) -> str:
        """One line on the family's own metrics, for tables such as the pretrained zoo's."""
        parts = [self.head.summarize(card_metrics)]
        if self.corruption is not None:
            parts.append(self.corruption.summarize(card_metrics))
        return "; ".join(p for p in parts if p)

    def corrupt(self, x: np.ndarray, seed: int = 0, batch_size: int = 512) -> np.ndarray | None:
        """``x`` corrupted as in training (seeded), or None for a model without corruption."""
        if self.corruption is None:
            return None
        return self.corruption.seeded_copy(x, seed=seed, batch_size=batch_size)

    # ---- inputs (one contract: zoo.utils.inputs) ---------------------------------
    @property
    def input_range(self) -> tuple[float, float] | None:
        """The range float inputs must lie in: [0, 1] for BCE (sigmoid) models, None (any finite) for MSE."""
        return UNIT_RANGE if self.reconstruction == "bce" else None

    def prepare_input(self, x, what: str = "input"):
        """``x`` as this model takes it (:func:`zoo.utils.inputs.as_model_input`): uint8 scaled, shape and range checked."""
        return as_model_input(x, self.data_shape, what=what, value_range=self.input_range)

    def _check_data(self, x, what: str, expected=None):
        """:meth:`prepare_input` for inputs, or for codes when ``expected`` is the code shape."""
        if expected is not None and tuple(expected) != self.data_shape:
            return as_model_input(x, expected, what=what, pixels=False, value_range=None)
        return self.prepare_input(x, what)

    # ---- inference helpers --------------------------------------------------
    def encode(self, x, batch_size: int = 256) -> np.ndarray:
        """Map inputs ``(batch, *data_shape)`` to codes ``(batch, *code_shape)`` (deterministic)."""
        x = self.prepare_input(x, "encode")
        return self.encoder.predict(x, batch_size=check_positive_int("batch_size", batch_size), verbose=0)

    def decode(self, z, batch_size: int = 256) -> np.ndarray:
        """Map codes ``(batch, *code_shape)`` to reconstructions ``(batch, *data_shape)``."""
        z = self._check_data(z, "decode", self.code_shape)
        return self.decoder.predict(z, batch_size=check_positive_int("batch_size", batch_size), verbose=0)

    def sample(self, n: int, seed: int | None = None, batch_size: int = 256) -> np.ndarray:
        """``n`` new examples: codes drawn from the model's prior (its head's), decoded.

        The codes come from numpy's ``default_rng(seed)``, so a seed gives the same
        images on every backend (up to the decoder's float32 rounding). Generative
        families only: VAE and IWAE (prior N(0, I)), WAE (N(0, σ²I)); VQ-VAE has its own.

        Args:
            n: Number of examples.
            seed: Seed of the codes (None: fresh entropy).
            batch_size: Decoding batch size.

        Returns:
            ``(n, *data_shape)`` decoder outputs (Bernoulli means in [0, 1] for sigmoid decoders).

        Raises:
            ValueError: For a family without a prior (plain, sparse, denoising, contractive autoencoders).

        Example:
            >>> images = zoo.load_pretrained("iwae_dense.mnist").sample(64, seed=0)
        """
        n = check_positive_int("n", n)
        codes = self.head.prior_codes(n, self.code_shape, np.random.default_rng(seed))
        if codes is None:
            raise ValueError(f"{self.name} is not generative: its {type(self.head).__name__} head has no prior to "
                             + "sample codes from. Sample from a VAE, IWAE, WAE or VQ-VAE "
                             + "(vae_*, iwae_*, wae_*, vqvae_*) instead.")
        return self.decode(codes, batch_size=batch_size)

    def fit(self, x=None, y=None, *args, **kwargs):
        x = self.prepare_input(x, "fit")
        y = None if y is None else self.prepare_input(y, "fit (targets)")
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)):
            kwargs["validation_data"] = tuple(v if v is None else self.prepare_input(v, "fit (validation_data)")
                                              for v in validation)
        elif validation is not None:
            kwargs["validation_data"] = self.prepare_input(validation, "fit (validation_data)")
        steps_before = self._steps_done()
        try:
            return super().fit(x, y, *args, **kwargs)
        finally:  # an interrupted fit has changed the weights too
            self._after_training(steps_before)

    def train_on_batch(self, x=None, y=None, *args, **kwargs):
        steps_before = self._steps_done()
        try:
            return super().train_on_batch(x, y, *args, **kwargs)
        finally:
            self._after_training(steps_before)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        if not kwargs.get("_use_cached_eval_dataset"):  # else fit's validation data, already prepared
            x = self.prepare_input(x, "evaluate")
            y = None if y is None else self.prepare_input(y, "evaluate (targets)")
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(self.prepare_input(x, "predict"), *args, **kwargs)

    # ---- serialization ------------------------------------------------------
    def get_config(self) -> dict:
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": _serialize(self.encoder_network),
            "decoder": _serialize(self.decoder),
            "head": _serialize(self.head),
            "corruption": _serialize(self.corruption),
            "reconstruction": self.reconstruction,
        }
        if self.source:
            config["source"] = dict(self.source)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = copy.deepcopy(config)  # deserialization consumes nested dicts
        for key, value in config.items():
            if _is_serialized_object(value):
                config[key] = keras.saving.deserialize_keras_object(value)
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

    @property
    def prefers_xla_on_cpu(self) -> bool:
        return False  # the per-example Jacobian stays on the plain graph

    def get_config(self) -> dict:
        return {**super().get_config(), "contractive": self.contractive}


@keras.saving.register_keras_serializable(package="aezoo")
class VAE(Autoencoder):
    """β-VAE with a diagonal Gaussian posterior and a N(0, I) prior (Kingma & Welling, 2014).

    The loss is the reconstruction error summed over features (nats per
    example with ``"bce"``) plus ``beta * KL``; with β = 1 it is the negative
    ELBO. ``encode`` and ``.encoder`` return the posterior mean, so they are
    deterministic and export without random ops. The parts are taken as by
    :class:`Autoencoder`; the head is a :class:`zoo.models.heads.GaussianSampling`.

    Args:
        encoder: ``keras.Model`` from inputs to ``[z_mean, z_log_var]`` (the posterior).
        decoder: ``keras.Model`` from codes back to inputs.
        beta: Weight β >= 0 of the KL term.
        seed: Seed of the sampling noise.
        head: The Gaussian head itself (else built from ``beta`` and ``seed``).
        **kwargs: Passed to :class:`Autoencoder` (``corruption``, ``reconstruction``, ``name``...).
    """

    reduction = "sum"

    def __init__(self, encoder: keras.Model | None = None, decoder: keras.Model | None = None,
                 beta: float = 1.0, seed: int | None = None, head: GaussianSampling | None = None,
                 **kwargs) -> None:
        if "posterior" in kwargs:  # the name of `encoder` before aezoo 0.2 (and in older .keras files)
            encoder = kwargs.pop("posterior")
        if head is None:
            head = GaussianSampling(beta=beta, seed=seed, name="sampling")
        elif not isinstance(head, GaussianSampling):
            raise ValueError(f"A VAE's head is a GaussianSampling. Received: head={type(head).__name__}")
        super().__init__(encoder, decoder, head=head, **kwargs)
        self.beta = head.beta
        self.seed = head.seed

    @property
    def posterior(self) -> keras.Model:
        """The encoder network: inputs to ``[z_mean, z_log_var]``."""
        return self.encoder_network

    def encode_distribution(self, x, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Return the posterior ``(z_mean, z_log_var)`` for inputs ``x``."""
        x = self.prepare_input(x, "encode_distribution")
        z_mean, z_log_var = self.posterior.predict(x, batch_size=check_positive_int("batch_size", batch_size),
                                                   verbose=0)
        return z_mean, z_log_var

    def get_config(self) -> dict:
        config = super().get_config()
        del config["head"]
        return {**config, "beta": self.beta, "seed": self.seed}
