"""aezoo: a Keras 3 model zoo of autoencoders.

Example:
    >>> import zoo
    >>> zoo.list_models()[:3]
    ['ae_conv', 'ae_dense', 'contractive_dense']
    >>> model = zoo.create_model("vae_conv", input_shape=(28, 28, 1), latent_dim=16)
    >>> ae = zoo.create_model("ae_conv.mnist", pretrained=True)
"""

from zoo import families as _families  # noqa: F401  (registers the recipes)
from zoo import heads, layers, losses, regularizers
from zoo.factory import create_model
from zoo.heads import CodeHead
from zoo.models import PARTS, VAE, Autoencoder, ContractiveAutoencoder
from zoo.pretrained import get_card, list_pretrained, load_encoder, load_pretrained, load_weights
from zoo.registry import list_models, register_model
from zoo.version import __version__

__all__ = [
    "__version__",
    "PARTS",
    "VAE",
    "Autoencoder",
    "CodeHead",
    "ContractiveAutoencoder",
    "create_model",
    "get_card",
    "heads",
    "list_pretrained",
    "load_encoder",
    "load_pretrained",
    "load_weights",
    "layers",
    "list_models",
    "losses",
    "register_model",
    "regularizers",
]
