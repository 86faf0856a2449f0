"""Evaluation metrics on numpy arrays; the loss terms come from :mod:`zoo.models.losses`, as in training.

Definitions (also in ``docs/metrics.md``):

- ``bce`` / ``mse``: per-pixel binary cross-entropy / squared error, averaged
  over pixels and images (the training loss, :func:`zoo.models.losses.reconstruction_error`);
  ``psnr``: mean over images of ``10 log10(1 / MSE_i)``.
- ``probe_accuracy``: a logistic regression (scikit-learn's objective and stopping rule,
  solved by L-BFGS on float32 arithmetic) fitted on the train split's codes
  (standardised), scored on the test split; ``pca_probe_accuracy`` is the same
  probe on PCA with as many components as the code, computed in the same run.
- Sparsity (reported by sparse heads): ``code_mean_activation`` (mean |a|),
  ``fraction_below_0.05``, ``fraction_below_1pct_of_max`` and the per-unit means.
- Denoising (reported by the corruption): the input corrupted as in training
  (fixed seed), scored against the clean image: ``denoise_bce``, ``noisy_psnr``,
  ``denoised_psnr`` and their gain.
- VAE (reported by the Gaussian head): ``neg_elbo_nats`` = summed BCE of one
  posterior sample + KL, per image.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from zoo.models.losses import gaussian_kl, reconstruction_error


def _per_example(x: np.ndarray, x_hat: np.ndarray, kind: str, reduction: str = "mean") -> np.ndarray:
    """:func:`zoo.models.losses.reconstruction_error` on numpy arrays, as float64 numpy."""
    x_hat = np.asarray(x_hat, dtype=np.float32)
    err = reconstruction_error(np.asarray(x, dtype=np.float32), ops.convert_to_tensor(x_hat), kind, reduction)
    return ops.convert_to_numpy(err).astype(np.float64)


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over images of ``10 log10(1 / MSE_i)`` for images in [0, 1]."""
    mse = _per_example(x, y, "mse")
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10))))


def reconstruction_metrics(x: np.ndarray, x_hat: np.ndarray) -> dict:
    """Per-pixel BCE and MSE and mean PSNR of reconstructions ``x_hat`` of ``x``."""
    return {
        "bce": float(np.mean(_per_example(x, x_hat, "bce"))),
        "mse": float(np.mean(_per_example(x, x_hat, "mse"))),
        "psnr": psnr(x, x_hat),
    }


#: The probe's objective and stopping rule: scikit-learn's ``LogisticRegression`` defaults (C=1,
#: L-BFGS until the largest gradient entry is below PROBE_TOL, at most PROBE_MAX_ITER iterations).
PROBE_C, PROBE_TOL, PROBE_MAX_ITER = 1.0, 1e-4, 500


def _standardise(z_train: np.ndarray, z_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled by the train set's mean and standard deviation (a constant column stays 0)."""
    z_train, z_test = np.asarray(z_train, np.float64), np.asarray(z_test, np.float64)
    mean, std = z_train.mean(axis=0), z_train.std(axis=0)
    std[std == 0] = 1.0
    return ((z_train - mean) / std).astype(np.float32), ((z_test - mean) / std).astype(np.float32)


def fit_logistic_regression(x: np.ndarray, y: np.ndarray, c: float = PROBE_C, tol: float = PROBE_TOL,
                            max_iter: int = PROBE_MAX_ITER) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by L-BFGS on float32 arithmetic: scikit-learn's objective, faster.

    Minimises ``mean cross-entropy + ||W||² / (2 C n)`` (intercepts unpenalised),
    scikit-learn's ``LogisticRegression`` objective, with its stopping rule. The
    loss and gradient are numpy float32 matrix products, about 2-3x cheaper per
    iteration than scikit-learn's float64 loss on a busy 2-core machine, and the
    optimiser takes the same steps, so the accuracy is the same (``docs/metrics.md``).

    Args:
        x: Features ``(n, d)`` (standardised).
        y: Labels ``(n,)``.
        c: Inverse regularisation strength (scikit-learn's ``C``).
        tol: Stop when the largest projected gradient entry is below this.
        max_iter: Most L-BFGS iterations.

    Returns:
        ``(classes, weights)`` with weights ``(d + 1, k)``, the last row the intercepts.
    """
    from scipy.optimize import minimize

    classes, index = np.unique(y, return_inverse=True)
    n, d, k = len(x), x.shape[1], len(classes)
    # Examples along the last axis: both matrix products then run about twice as fast in BLAS
    # as with a (n, d) @ (d, k) product, whose output is too thin.
    features = np.vstack([np.asarray(x, np.float32).T, np.ones((1, n), np.float32)])
    onehot = np.eye(k, dtype=np.float32)[:, index]
    penalised = np.ones((d + 1, k), np.float32)
    penalised[-1] = 0.0
    lam = np.float32(1.0 / (c * n))

    def loss_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        weights = w.reshape(d + 1, k).astype(np.float32)
        logits = weights.T @ features
        logits -= logits.max(axis=0, keepdims=True)
        exp = np.exp(logits)
        total = exp.sum(axis=0, keepdims=True)
        loss = -float((onehot * (logits - np.log(total))).sum()) / n
        loss += 0.5 * float(lam) * float((weights * weights * penalised).sum())
        grad = features @ (exp / total - onehot).T / np.float32(n) + lam * weights * penalised
        return loss, grad.ravel().astype(np.float64)

    result = minimize(loss_and_grad, np.zeros((d + 1) * k), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps})
    return classes, result.x.reshape(d + 1, k)


def linear_probe(z_train, y_train, z_test, y_test, seed: int = 0) -> float:
    """Test accuracy of a logistic regression on standardised codes (:func:`fit_logistic_regression`).

    ``seed`` is kept for the callers: the fit is deterministic (L-BFGS from zero weights).
    """
    train, test = _standardise(np.reshape(z_train, (len(z_train), -1)), np.reshape(z_test, (len(z_test), -1)))
    classes, weights = fit_logistic_regression(train, np.asarray(y_train))
    scores = np.hstack([test, np.ones((len(test), 1), np.float32)]) @ weights
    return float(np.mean(classes[np.argmax(scores, axis=1)] == np.asarray(y_test)))


def pca_probe(x_train, y_train, x_test, y_test, k: int, seed: int = 0) -> float:
    """:func:`linear_probe` on the first ``k`` principal components of the pixels."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, random_state=seed).fit(x_train.reshape(len(x_train), -1))
    return linear_probe(pca.transform(x_train.reshape(len(x_train), -1)), y_train,
                        pca.transform(x_test.reshape(len(x_test), -1)), y_test, seed)


def sparsity_metrics(codes: np.ndarray) -> dict:
    """Mean activation, near-zero fractions and per-unit means of a batch of codes."""
    a = np.abs(codes)
    unit_means = codes.mean(axis=0)
    return {
        "code_mean_activation": float(a.mean()),
        "fraction_below_0.05": float(np.mean(a < 0.05)),
        "fraction_below_1pct_of_max": float(np.mean(a < 0.01 * a.max())),
        "unit_mean_activation_min": float(unit_means.min()),
        "unit_mean_activation_max": float(unit_means.max()),
        "unit_mean_activations": [round(float(v), 5) for v in unit_means],
    }


def denoising_metrics(model, x: np.ndarray, seed: int = 0, batch_size: int = 512) -> dict:
    """Corrupt ``x`` as in training (seeded) and score the reconstructions against clean ``x``."""
    noisy = model.corrupt(x, seed=seed, batch_size=batch_size)
    denoised = model.predict(noisy, batch_size=batch_size, verbose=0)
    noisy_psnr, denoised_psnr = psnr(x, noisy), psnr(x, denoised)
    return {
        "noise": type(model.corruption).__name__,
        "denoise_bce": float(np.mean(_per_example(x, denoised, "bce"))),
        "noisy_psnr": noisy_psnr,
        "denoised_psnr": denoised_psnr,
        "psnr_gain": denoised_psnr - noisy_psnr,
    }


def vae_metrics(model, x: np.ndarray, seed: int = 0, batch_size: int = 512) -> dict:
    """Negative ELBO per image in nats (one posterior sample per image, seeded) and its parts."""
    z_mean, z_log_var = model.encode_distribution(x, batch_size=batch_size)
    eps = np.random.default_rng(seed).standard_normal(z_mean.shape).astype("float32")
    x_hat = model.decode(z_mean + np.exp(0.5 * z_log_var) * eps, batch_size=batch_size)
    rec = _per_example(x, x_hat, "bce", "sum")
    kl = ops.convert_to_numpy(gaussian_kl(ops.convert_to_tensor(z_mean), ops.convert_to_tensor(z_log_var)))
    return {"neg_elbo_nats": float(np.mean(rec + kl)), "reconstruction_nats": float(np.mean(rec)),
            "kl_nats": float(np.mean(kl))}
