"""Importance-weighted autoencoders (IWAE; Burda, Grosse & Salakhutdinov, ICLR 2016).

The architecture is a VAE's (a diagonal Gaussian posterior, a N(0, I) prior, a
Bernoulli decoder); the objective is the k-sample importance-weighted bound

    L_k(x) = E[ log (1/k) Σ_i p(x, z_i) / q(z_i | x) ],   z_1..z_k ~ q(z | x),

which equals the ELBO for k = 1 and tightens towards log p(x) as k grows. The
loss is ``-L_k`` in nats per example, estimated with k reparameterised samples
per example (one decoder pass on ``k * batch`` codes). With ``binarize`` the
inputs are dynamically binarised in the loss (:func:`zoo.data.binarize.bernoulli`:
a fresh Bernoulli draw per step, from the model's seed), the protocol of the
likelihood literature on MNIST.

This family is one module: its model class (:class:`IWAE`, whose objective needs
the decoder, so it cannot be a head alone) and its recipes.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from zoo.data.binarize import bernoulli
from zoo.models import backend
from zoo.models.assemble import CONV_FILTERS, DENSE_UNITS, MNIST_SHAPE, assemble
from zoo.models.autoencoder import VAE, Autoencoder
from zoo.models.heads import GaussianSampling
from zoo.models.losses import pixel_error
from zoo.models.registry import register_model
from zoo.utils.checks import check_positive_int

_LOG_2PI = math.log(2.0 * math.pi)


def log_importance_weights(x, probs, eps, z, z_mean, z_log_var):
    """``log p(x | z_i) + log p(z_i) - log q(z_i | x)`` and ``log p(x | z_i)`` for k samples per example.

    Args:
        x: Binary (or [0, 1]) targets ``(batch, ...)``.
        probs: Bernoulli means of the decoder ``(k * batch, ...)``, sample-major
            (rows ``i * batch .. (i + 1) * batch`` decode ``z[i]``).
        eps: The standard normal draws ``(k, batch, d)`` with ``z = mean + exp(log_var / 2) * eps``.
        z: The codes ``(k, batch, d)``.
        z_mean: Posterior means ``(batch, d)``.
        z_log_var: Posterior log-variances ``(batch, d)``.

    Returns:
        ``(log_w, log_px_z)``, both ``(k, batch)``.
    """
    k, batch = ops.shape(eps)[0], ops.shape(eps)[1]
    targets = ops.tile(ops.reshape(x, (1, batch, -1)), (k, 1, 1))
    log_px_z = -ops.sum(pixel_error(targets, ops.reshape(probs, (k, batch, -1)), "bce"), axis=-1)
    log_pz = -0.5 * ops.sum(ops.square(z) + _LOG_2PI, axis=-1)
    log_qz = -0.5 * ops.sum(ops.square(eps) + z_log_var[None] + _LOG_2PI, axis=-1)
    return log_px_z + log_pz - log_qz, log_px_z


def iwae_bound(log_w):
    """``log (1/k) Σ_i exp(log_w_i)`` over the sample axis 0: the k-sample bound per example."""
    k = ops.cast(ops.shape(log_w)[0], log_w.dtype)
    return ops.logsumexp(log_w, axis=0) - ops.log(k)


@keras.saving.register_keras_serializable(package="aezoo")
class IWAE(VAE):
    """VAE trained on the k-sample importance-weighted bound (k = 1 is the plain VAE's ELBO).

    Training and ``evaluate`` report ``loss`` = ``-L_k`` (nats per example),
    ``reconstruction_loss`` = the mean ``-log p(x | z)`` over the k samples, and
    ``penalty`` = their difference. The Gaussian head's KL term is not used:
    the bound estimates its own. ``encode``, exports and ``sample`` behave as a VAE's.

    Args:
        encoder: ``keras.Model`` from inputs to ``[z_mean, z_log_var]``.
        decoder: ``keras.Model`` from codes to Bernoulli means (sigmoid outputs).
        k: Importance samples per example in the objective (>= 1).
        binarize: Dynamically binarise inputs in the loss (a Bernoulli draw per step).
        seed: Seed of the importance samples and of the binarisation.
        head: The Gaussian head itself (else built from ``seed``).
        **kwargs: Passed to :class:`zoo.VAE` (``name``, ``source``...).
    """

    def __init__(self, encoder: keras.Model | None = None, decoder: keras.Model | None = None, k: int = 5,
                 binarize: bool = False, seed: int | None = None, head: GaussianSampling | None = None,
                 **kwargs) -> None:
        self.k = check_positive_int("k", k)
        if not isinstance(binarize, bool):
            raise ValueError(f"`binarize` must be True or False. Received: binarize={binarize!r}")
        self.binarize = binarize
        kwargs.pop("beta", None)  # the bound has no KL weight
        if kwargs.get("reconstruction", "bce") != "bce":
            raise ValueError("The IWAE bound needs a Bernoulli decoder (reconstruction='bce'). "
                             + f"Received: reconstruction={kwargs['reconstruction']!r}")
        super().__init__(encoder, decoder, seed=seed, head=head, **kwargs)

    def log_weights(self, x, training: bool = False):
        """``(targets, log_w, log_px_z)``: the (binarised) targets and k log importance weights per example."""
        x = ops.cast(x, "float32")
        if self.binarize:
            x = bernoulli(x, self.head.seed_generator)
        z_mean, z_log_var = self.encoder_network(x, training=training)
        batch, d = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        eps = keras.random.normal((self.k, batch, d), dtype=z_mean.dtype, seed=self.head.seed_generator)
        z = z_mean[None] + ops.exp(0.5 * z_log_var)[None] * eps
        probs = self.decoder(ops.reshape(z, (self.k * batch, d)), training=training)
        log_w, log_px_z = log_importance_weights(x, probs, eps, z, z_mean, z_log_var)
        return x, log_w, log_px_z

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        _, log_w, log_px_z = self.log_weights(x, training=training)
        per_example = -iwae_bound(log_w)
        per_recon = -ops.mean(log_px_z, axis=0)
        if sample_weight is not None:
            w = ops.cast(ops.reshape(sample_weight, (-1,)), per_example.dtype)
            total = ops.maximum(ops.sum(w), 1e-12)
            loss, recon = ops.sum(per_example * w) / total, ops.sum(per_recon * w) / total
        else:
            loss, recon = ops.mean(per_example), ops.mean(per_recon)
        batch = ops.cast(ops.shape(per_example)[0], loss.dtype)
        self.reconstruction_tracker.update_state(recon, sample_weight=batch)
        self.penalty_tracker.update_state(loss - recon, sample_weight=batch)
        return loss * ops.cast(backend.global_batch_fraction(per_example), loss.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return {**config, "k": self.k, "binarize": self.binarize}


def _iwae(arch: str, name: str, input_shape, latent_dim, sizes, k, binarize, seed) -> Autoencoder:
    return assemble(arch, input_shape, latent_dim, sizes, model_cls=IWAE, name=name, k=k, binarize=binarize,
                    head=GaussianSampling(beta=1.0, seed=seed, name="sampling"))


@register_model
def iwae_dense(input_shape=MNIST_SHAPE, latent_dim=50, hidden_units=DENSE_UNITS, k=5, binarize=True,
               seed=None) -> Autoencoder:
    """Dense importance-weighted autoencoder (k-sample bound; dynamically binarised inputs)."""
    return _iwae("dense", "iwae_dense", input_shape, latent_dim, hidden_units, k, binarize, seed)


@register_model
def iwae_conv(input_shape=MNIST_SHAPE, latent_dim=16, filters=CONV_FILTERS, k=5, binarize=True,
              seed=None) -> Autoencoder:
    """Convolutional importance-weighted autoencoder (k-sample bound; dynamically binarised inputs)."""
    return _iwae("conv", "iwae_conv", input_shape, latent_dim, filters, k, binarize, seed)
