"""Sparse autoencoders: an L1 or KL-divergence activity penalty on the code."""

from zoo.models.assemble import CONV_FILTERS, DENSE_UNITS, MNIST_SHAPE, assemble
from zoo.models.autoencoder import Autoencoder
from zoo.models.heads import ActivityPenalty
from zoo.models.registry import register_model
from zoo.models.regularizers import KLSparsity, L1Activity


def _kl_code_activation(code_activation: str) -> str:
    if code_activation != "sigmoid":
        raise ValueError(
            "KL sparsity compares mean activations with a target in (0, 1), so the code "
            + f"needs code_activation='sigmoid'. Received: code_activation={code_activation!r}"
        )
    return code_activation


def _penalty(regularizer) -> ActivityPenalty:
    return ActivityPenalty(regularizer, name="code_penalty")


def _kl(arch: str, name: str, input_shape, latent_dim, sizes, rho, beta, code_activation) -> Autoencoder:
    return assemble(arch, input_shape, latent_dim, sizes, code_activation=_kl_code_activation(code_activation),
                    head=_penalty(KLSparsity(rho, beta)), name=name)


@register_model
def sparse_l1_dense(input_shape=MNIST_SHAPE, latent_dim=32, hidden_units=DENSE_UNITS,
                    l1=1e-3, code_activation="relu") -> Autoencoder:
    """Dense autoencoder with an L1 activity penalty on the code."""
    return assemble("dense", input_shape, latent_dim, hidden_units, code_activation=code_activation,
                    head=_penalty(L1Activity(l1)), name="sparse_l1_dense")


@register_model
def sparse_l1_conv(input_shape=MNIST_SHAPE, latent_dim=32, filters=CONV_FILTERS,
                   l1=1e-3, code_activation="relu") -> Autoencoder:
    """Convolutional autoencoder with an L1 activity penalty on the code."""
    return assemble("conv", input_shape, latent_dim, filters, code_activation=code_activation,
                    head=_penalty(L1Activity(l1)), name="sparse_l1_conv")


@register_model
def sparse_kl_dense(input_shape=MNIST_SHAPE, latent_dim=32, hidden_units=DENSE_UNITS,
                    rho=0.05, beta=0.1, code_activation="sigmoid") -> Autoencoder:
    """Dense autoencoder with KL-divergence sparsity on a sigmoid code."""
    return _kl("dense", "sparse_kl_dense", input_shape, latent_dim, hidden_units, rho, beta, code_activation)


@register_model
def sparse_kl_conv(input_shape=MNIST_SHAPE, latent_dim=32, filters=CONV_FILTERS,
                   rho=0.05, beta=0.1, code_activation="sigmoid") -> Autoencoder:
    """Convolutional autoencoder with KL-divergence sparsity on a sigmoid code."""
    return _kl("conv", "sparse_kl_conv", input_shape, latent_dim, filters, rho, beta, code_activation)
