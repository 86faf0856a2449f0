"""Importance-sampled log-likelihood of models with a Gaussian posterior (VAE, IWAE): nats per example.

For each example ``x`` and K samples ``z_k ~ q(z | x)`` from the posterior head,

    log p(x) ≈ logsumexp_k [ log p(x | z_k) + log p(z_k) - log q(z_k | x) ] - log K,

a stochastic lower bound whose expectation rises to ``log p(x)`` as K grows
(Burda et al., 2016, appendix; the estimator behind every NLL figure on
binarised MNIST). K = 1 is a one-sample ELBO; the mean of the K log weights is
the ELBO estimated with K samples, reported beside the NLL.

The decoder is Bernoulli (sigmoid means, clipped to [1e-7, 1 - 1e-7] as in
training) for binary data, or Gaussian with a fixed standard deviation. The K
samples are drawn in chunks, so memory stays ``batch_size * chunk`` decoded
images whatever K is; the log-sum-exp is accumulated across chunks in float64.
Noise comes from numpy's ``default_rng(seed)``, drawn batch by batch and chunk
by chunk: the same seed, ``batch_size`` and ``chunk`` give the same estimate
on every backend up to float32 rounding of the decoder.
"""

from __future__ import annotations

import math
import time

import numpy as np

from zoo.data import datasets as zdata
from zoo.data.binarize import PROTOCOL, TEST_SEED, binarize
from zoo.utils.checks import check_choice, check_positive_int

#: What :func:`log_likelihood` can score: the decoder's output distribution.
LIKELIHOODS = ("bernoulli", "gaussian")
#: Clipping of Bernoulli means (the training losses' epsilon, :data:`zoo.models.losses.EPSILON`).
EPSILON = 1e-7
#: The literature's number of importance samples for a test-set NLL (Burda et al., 2016).
DEFAULT_SAMPLES = 5000
#: Decoded rows per decoder call when ``chunk`` is not given (bounds memory: about 60 MB of MNIST images).
ROWS_PER_CALL = 20000
_LOG_2PI = math.log(2.0 * math.pi)


def require_posterior(model):
    """``model.encode_distribution`` if the model has a Gaussian posterior, else a ``ValueError`` naming it."""
    if not hasattr(model, "encode_distribution"):
        raise ValueError("The importance-sampled likelihood needs a model with a Gaussian posterior "
                         + f"(a VAE or IWAE: encode_distribution). Received: {type(model).__name__} {model.name!r}")
    return model.encode_distribution


def _scorer(decoder, likelihood: str, noise_stddev: float | None):
    """A ``keras.Model`` ``[z, x] -> log p(x | z)`` per row: the decoder and the likelihood compiled together.

    The per-pixel terms stay in the backend (float32, summed per row), so numpy only sees
    one number per sample.
    """
    import keras
    from keras import ops

    size = math.prod(decoder.output_shape[1:])
    z = keras.Input(shape=decoder.input_shape[1:], name="z")
    x = keras.Input(shape=(size,), name="x")
    out = ops.reshape(decoder(z), (-1, size))
    if likelihood == "bernoulli":
        p = ops.clip(out, EPSILON, 1.0 - EPSILON)
        log_px_z = ops.sum(ops.where(x > 0.5, ops.log(p), ops.log(1.0 - p)), axis=-1)
    else:
        var = float(noise_stddev) ** 2
        log_px_z = -0.5 * ops.sum(ops.square(x - out), axis=-1) / var - 0.5 * size * (math.log(var) + _LOG_2PI)
    return keras.Model([z, x], log_px_z, name="log_px_z")


def log_likelihood(model, x: np.ndarray, num_samples: int = DEFAULT_SAMPLES, *, seed: int = 0,
                   batch_size: int = 100, chunk: int | None = None, likelihood: str = "bernoulli",
                   noise_stddev: float | None = None, with_elbo: bool = False):
    """Per-example importance-sampled ``log p(x)`` estimates in nats (float64).

    Args:
        model: A model with ``encode_distribution(x) -> (z_mean, z_log_var)`` and a
            ``decoder`` (:class:`zoo.VAE` and its subclasses); the prior is N(0, I).
        x: Examples ``(n, *model.data_shape)``: binary for ``"bernoulli"``.
        num_samples: K, importance samples per example (>= 1).
        seed: Seed of the samples.
        batch_size: Examples encoded and decoded together.
        chunk: Samples per decoder call (default: about :data:`ROWS_PER_CALL` rows per call).
        likelihood: ``"bernoulli"`` (decoder outputs are pixel probabilities) or
            ``"gaussian"`` (decoder outputs are means, ``noise_stddev`` the fixed σ).
        noise_stddev: σ of the Gaussian decoder (required for ``"gaussian"``).
        with_elbo: Also return the per-example mean of the K log weights (an ELBO estimate).

    Returns:
        ``(n,)`` array of log-likelihood estimates; with ``with_elbo``, ``(log_px, elbo)``.

    Raises:
        ValueError: For a model without a Gaussian posterior, or bad arguments.

    Example:
        >>> nll = -log_likelihood(zoo.load_pretrained("iwae_dense.mnist"), binarize(x_test), 5000).mean()
    """
    encode = require_posterior(model)
    num_samples = check_positive_int("num_samples", num_samples)
    batch_size = check_positive_int("batch_size", batch_size)
    check_choice("likelihood", likelihood, LIKELIHOODS)
    if likelihood == "gaussian" and not (noise_stddev and noise_stddev > 0):
        raise ValueError(f"A Gaussian decoder needs noise_stddev > 0. Received: noise_stddev={noise_stddev!r}")
    chunk = max(1, min(num_samples, ROWS_PER_CALL // batch_size)) if chunk is None else check_positive_int(
        "chunk", chunk)
    x = model.prepare_input(x, "log_likelihood")
    if likelihood == "bernoulli" and not np.isin(x, (0.0, 1.0)).all():
        raise ValueError("A Bernoulli likelihood scores binary data; binarise it first "
                         + "(zoo.data.binarize.binarize). Received: values strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    scorer = _scorer(model.decoder, likelihood, noise_stddev)
    log_px, elbo = np.empty(len(x)), np.empty(len(x))
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        mean, log_var = (np.asarray(v, np.float64) for v in encode(xb, batch_size=len(xb)))
        flat = xb.reshape(len(xb), -1).astype(np.float32)
        std = np.exp(0.5 * log_var)
        running_max = np.full(len(xb), -np.inf)
        running_sum = np.zeros(len(xb))
        weight_sum = np.zeros(len(xb))
        for done in range(0, num_samples, chunk):
            c = min(chunk, num_samples - done)
            eps = rng.standard_normal((c, *mean.shape))
            z = mean[None] + std[None] * eps
            rows = [z.reshape(-1, mean.shape[1]).astype(np.float32), np.tile(flat, (c, 1))]
            log_w = np.asarray(scorer.predict_on_batch(rows), np.float64).reshape(c, len(xb))
            log_w += -0.5 * np.sum(z**2 + _LOG_2PI, axis=-1)                     # log p(z)
            log_w -= -0.5 * np.sum(eps**2 + log_var[None] + _LOG_2PI, axis=-1)  # log q(z | x)
            new_max = np.maximum(running_max, log_w.max(axis=0))
            running_sum = running_sum * np.exp(running_max - new_max) + np.exp(log_w - new_max).sum(axis=0)
            running_max = new_max
            weight_sum += log_w.sum(axis=0)
        log_px[start:start + len(xb)] = running_max + np.log(running_sum) - math.log(num_samples)
        elbo[start:start + len(xb)] = weight_sum / num_samples
    return (log_px, elbo) if with_elbo else log_px


def binarized_nll(model, x: np.ndarray, num_samples: int = DEFAULT_SAMPLES, *, seed: int = 0,
                  binarization_seed: int = TEST_SEED, batch_size: int = 100, limit: int | None = None) -> dict:
    """The NLL protocol of the cards: Bernoulli NLL of a test split binarised once, in nats per image.

    Args:
        model: A VAE-like model taking images in [0, 1] (:func:`log_likelihood`).
        x: The (grey-level) test images, uint8 or in [0, 1]; binarised here with ``binarization_seed``.
        num_samples: K importance samples per image.
        seed: Seed of the importance samples.
        binarization_seed: Seed of the fixed binarisation (:data:`zoo.data.binarize.TEST_SEED`).
        batch_size: Images per batch.
        limit: Score only the first ``limit`` images (None: all).

    Returns:
        ``nll_nats`` (mean of ``-log p̂(x)``), ``nll_stderr`` (its standard error over images),
        ``nll_elbo_nats`` (``-ELBO`` from the same samples), ``nll_samples``, ``nll_n``,
        ``nll_seconds`` and ``nll_protocol``.
    """
    x_bin = binarize(x, binarization_seed)
    if limit is not None:
        x_bin = x_bin[:check_positive_int("limit", limit)]
    t0 = time.perf_counter()
    log_px, elbo = log_likelihood(model, x_bin, num_samples, seed=seed, batch_size=batch_size, with_elbo=True)
    protocol = PROTOCOL.replace(f"seed {TEST_SEED}", f"seed {binarization_seed}")
    return {"nll_nats": float(-log_px.mean()), "nll_stderr": float(log_px.std(ddof=1) / math.sqrt(len(log_px)))
            if len(log_px) > 1 else 0.0, "nll_elbo_nats": float(-elbo.mean()), "nll_samples": int(num_samples),
            "nll_n": int(len(log_px)), "nll_seconds": int(round(time.perf_counter() - t0)),
            "nll_protocol": f"{protocol}; K = {num_samples} importance samples (seed {seed}) per image"}


def dataset_nll(model, dataset: str, num_samples: int = DEFAULT_SAMPLES, *, data_dir=None, seed: int = 0,
                limit: int | None = None, batch_size: int = 100) -> dict:
    """:func:`binarized_nll` on the test split of ``dataset`` (``mnist``, ``fashion_mnist``, ``sample:NAME`` or a path).

    What ``aezoo evaluate --nll-samples K`` adds to a VAE-like model's metrics.

    Raises:
        ValueError: For a model without a Gaussian posterior (the message names it).
    """
    require_posterior(model)
    x, _ = zdata.load_spec(dataset, "test", data_dir=data_dir)
    return binarized_nll(model, model.prepare_input(x, f"--dataset {dataset}"), num_samples, seed=seed,
                         limit=limit, batch_size=batch_size)
