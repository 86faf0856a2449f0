"""Code heads: what sits between an encoder network and the decoder, and what families differ by.

A head decides four things, so that training, evaluation, publishing, plotting
and export can ask it instead of switching on class or layer names:

* the encoder network's last layer(s) (:meth:`CodeHead.encoder_outputs`): one
  ``code`` layer, or a Gaussian posterior's ``z_mean`` and ``z_log_var``;
* the code the decoder sees in training (:meth:`CodeHead.call`, which may add
  loss terms with ``add_loss``) and the deterministic code used by ``encode``
  and every export (:meth:`CodeHead.deterministic`);
* the evaluation metrics that describe its codes (:meth:`CodeHead.evaluation_metrics`);
* a one-line summary of those metrics for tables (:meth:`CodeHead.summarize`).

The plain :class:`CodeHead` passes the code through; :class:`ActivityPenalty`
adds a penalty on it (sparsity, or a family's own term); :class:`GaussianSampling`
is a VAE's posterior. A new kind of code (a quantised codebook, say) is a new head.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

# regularizers: ActivityPenalty's configs name aezoo regularizers, which Keras' regularizer lookup does not find
# through zoo.utils.keras_hook's registry hook; importing them here registers them wherever the head is.
from zoo.models import backend, metrics, regularizers  # noqa: F401
from zoo.models.losses import gaussian_kl
from zoo.utils.checks import check_non_negative


@keras.saving.register_keras_serializable(package="aezoo")
class CodeHead(keras.layers.Layer):
    """The plain head: the encoder's ``code`` layer output is the code, in training and inference.

    Args:
        **kwargs: Standard layer arguments (``name``...).
    """

    #: Whether the training-time code differs from :meth:`deterministic` (sampling).
    stochastic = False
    #: Name of the encoder network among a model's weight-holding components.
    network_name = "encoder"

    def encoder_outputs(self, features, latent_dim: int, activation: str = "linear"):
        """The encoder network's last layer(s) on top of ``features``."""
        return layers.Dense(latent_dim, activation=activation, name="code")(features)

    def call(self, inputs, training=None):
        return inputs

    def add_loss(self, loss):
        # Tagged, so that under tf.distribute each replica sums only its own terms.
        super().add_loss(backend.tag_replica(loss))

    def deterministic(self, inputs):
        """The code for ``encode`` and exports, from the encoder network's (symbolic) outputs."""
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def evaluation_metrics(self, model, x: np.ndarray, codes: np.ndarray, *, seed: int = 0,
                           batch_size: int = 512) -> dict:
        """Metrics this head reports on test data ``x`` with deterministic ``codes``."""
        return {}

    def prior_codes(self, n: int, code_shape: tuple, rng: np.random.Generator) -> np.ndarray | None:
        """``n`` codes drawn from the prior the decoder was trained towards, or None for a head without one."""
        return None

    def summarize(self, card_metrics: dict) -> str:
        """One line for tables (the pretrained table's "family metric"), from evaluation metrics."""
        return ""


@keras.saving.register_keras_serializable(package="aezoo")
class ActivityPenalty(CodeHead):
    """Head that adds ``regularizer(code)`` to the model's losses (sparse autoencoders and others).

    The regularizer may also define ``evaluation_metrics(codes)`` and
    ``summarize(metrics)``; the head reports what its regularizer reports.

    Args:
        regularizer: A callable penalty such as :class:`zoo.models.regularizers.KLSparsity`.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, regularizer, **kwargs) -> None:
        super().__init__(**kwargs)
        self.regularizer = keras.regularizers.get(regularizer)

    def call(self, inputs, training=None):
        self.add_loss(self.regularizer(inputs))
        return inputs

    def evaluation_metrics(self, model, x, codes, *, seed=0, batch_size=512) -> dict:
        report = getattr(self.regularizer, "evaluation_metrics", None)
        return report(codes) if report else {}

    def summarize(self, card_metrics: dict) -> str:
        summary = getattr(self.regularizer, "summarize", None)
        return summary(card_metrics) if summary else ""

    def get_config(self) -> dict:
        return {**super().get_config(), "regularizer": keras.regularizers.serialize(self.regularizer)}


@keras.saving.register_keras_serializable(package="aezoo")
class GaussianSampling(CodeHead):
    """A VAE's head: reparameterized sample ``z = mean + exp(log_var / 2) * eps`` and its KL term.

    The encoder network ends in ``z_mean`` and ``z_log_var``. The head adds
    ``beta * KL(q(z|x) || N(0, I))`` (summed over latent units, averaged over
    the batch) to the model's losses, samples in training only, and returns the
    mean at inference, so encoders and exports are deterministic.

    Args:
        beta: Weight β >= 0 of the KL term (β = 1 is the plain VAE).
        seed: Seed of the sampling noise.
        **kwargs: Standard layer arguments.
    """

    stochastic = True
    network_name = "posterior"

    def __init__(self, beta: float = 1.0, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.beta = check_non_negative("beta", beta)
        self.seed = seed
        self.seed_generator = backend.ReplicaSeedGenerator(seed)

    def encoder_outputs(self, features, latent_dim: int, activation: str = "linear"):
        z_mean = layers.Dense(latent_dim, name="z_mean")(features)
        z_log_var = layers.Dense(latent_dim, name="z_log_var")(features)
        return [z_mean, z_log_var]

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        self.add_loss(self.beta * ops.mean(gaussian_kl(z_mean, z_log_var)))
        if not training:
            return z_mean
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def deterministic(self, inputs):
        return inputs[0]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def evaluation_metrics(self, model, x, codes, *, seed=0, batch_size=512) -> dict:
        return metrics.vae_metrics(model, x, seed=seed, batch_size=batch_size)

    def prior_codes(self, n, code_shape, rng) -> np.ndarray:
        """Draws of the prior N(0, I)."""
        return rng.standard_normal((n, *code_shape)).astype(np.float32)

    def summarize(self, card_metrics: dict) -> str:
        parts = [f"−ELBO {card_metrics['neg_elbo_nats']:.1f} nats"] if "neg_elbo_nats" in card_metrics else []
        if "nll_nats" in card_metrics:  # docs/generative.md: binarised test split, K importance samples
            parts.append(f"binarised NLL {card_metrics['nll_nats']:.2f} (K = {card_metrics['nll_samples']})")
        return "; ".join(parts)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}
