"""Activity penalties for autoencoder codes.

Both regularizers take an activation tensor of shape ``(batch, units)`` and
return a scalar penalty on the scale of *one example*, so they add directly to
a per-example reconstruction loss whatever the batch size. Attach them to a
code with :class:`zoo.models.layers.ActivityPenalty` rather than a layer's
``activity_regularizer`` argument: Keras divides activity penalties by the
batch size, which is right for L1 but would shrink the batch-level KL term.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo.models import backend, metrics
from zoo.models.losses import EPSILON
from zoo.utils.checks import check_non_negative, check_open_unit


class SparsityPenalty(keras.regularizers.Regularizer):
    """Base of penalties that make codes sparse; they report how sparse the codes came out."""

    def evaluation_metrics(self, codes: np.ndarray) -> dict:
        """Sparsity metrics of test codes (:func:`zoo.models.metrics.sparsity_metrics`)."""
        return metrics.sparsity_metrics(codes)

    def summarize(self, card_metrics: dict) -> str:
        """Mean activation and the range of per-unit means, for tables."""
        if "unit_mean_activation_min" not in card_metrics:
            return ""
        return (f"mean act. {card_metrics['code_mean_activation']:.3f}; units in "
                + f"[{card_metrics['unit_mean_activation_min']:.3f}, {card_metrics['unit_mean_activation_max']:.3f}]")


@keras.saving.register_keras_serializable(package="aezoo")
class L1Activity(SparsityPenalty):
    """L1 activity penalty ``l1 * sum(|a|) / batch_size``.

    The sum runs over every unit and example; dividing by the batch size makes
    it the mean over examples of ``l1 * sum_j |a_j|``.

    Args:
        l1: Penalty weight λ >= 0.

    Example:
        >>> float(L1Activity(0.5)(np.array([[1.0, -2.0], [0.0, 3.0]])))
        1.5
    """

    def __init__(self, l1: float = 1e-4) -> None:
        self.l1 = check_non_negative("l1", l1)

    def __call__(self, activations):
        a = ops.convert_to_tensor(activations)
        batch = ops.cast(ops.shape(a)[0], a.dtype)
        return self.l1 * ops.sum(ops.abs(a)) / batch

    def get_config(self) -> dict:
        return {"l1": self.l1}


@keras.saving.register_keras_serializable(package="aezoo")
class KLSparsity(SparsityPenalty):
    """KL-divergence sparsity penalty of Ng's sparse autoencoder.

    ``rho_hat_j`` is unit j's mean activation over the (global) batch and the penalty is
    ``beta * sum_j [rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))]``.
    Activations must lie in (0, 1), so the code needs a sigmoid activation.
    Under data parallelism ``rho_hat`` is the mean over the whole global batch
    (:func:`zoo.models.backend.global_batch_mean`), so the objective does not change
    with the number of replicas.

    Args:
        rho: Target mean activation, strictly between 0 and 1.
        beta: Penalty weight β >= 0.
    """

    def __init__(self, rho: float = 0.05, beta: float = 1.0) -> None:
        self.rho = check_open_unit("rho", rho)
        self.beta = check_non_negative("beta", beta)

    def __call__(self, activations):
        a = ops.convert_to_tensor(activations)
        # The global batch's mean, not one replica's shard: KL is not linear in rho_hat.
        rho_hat = ops.clip(backend.global_batch_mean(a), EPSILON, 1.0 - EPSILON)
        rho = ops.cast(self.rho, a.dtype)
        kl = rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat))
        return self.beta * ops.sum(kl)

    def get_config(self) -> dict:
        return {"rho": self.rho, "beta": self.beta}
