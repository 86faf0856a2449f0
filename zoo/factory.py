"""``create_model``: one entry point for registered architectures and pretrained entries (as in timm)."""

from __future__ import annotations

from typing import Any

from zoo.families import build_model, list_models
from zoo.models.autoencoder import Autoencoder
from zoo.pretrained import build_from_card, get_card, list_pretrained, load_pretrained
from zoo.utils.checks import unknown_name_error


def create_model(name: str, pretrained: bool = False, **kwargs: Any) -> Autoencoder:
    """Build a registered autoencoder, or a pretrained entry's.

    Args:
        name: A registered architecture (``zoo.list_models()``, e.g. ``"ae_conv"``)
            or a pretrained entry (``zoo.list_pretrained()``, e.g. ``"ae_conv.mnist"``).
        pretrained: Load the entry's weights (SHA-256 checked). For an
            architecture name, the only entry of that architecture is used.
        **kwargs: ``input_shape``, ``latent_dim`` and the family's arguments;
            they override the recipe's (or the card's) defaults. Not allowed
            with ``pretrained=True``, which needs the card's architecture.

    Returns:
        A :class:`zoo.Autoencoder`; with ``pretrained=True`` it remembers its
        entry (``model.pretrained_name``).

    Raises:
        ValueError: For an unknown name (close matches listed), an argument the
            recipe does not take, an invalid hyperparameter, or
            ``pretrained=True`` with no single matching entry or with arguments.

    Example:
        >>> model = zoo.create_model("sparse_kl_dense", latent_dim=64, rho=0.05, beta=0.1)
        >>> ae = zoo.create_model("ae_conv.mnist", pretrained=True)
    """
    entries = list_pretrained()
    if pretrained:
        if name in list_models():
            matches = [e for e in entries if e.split(".")[0] == name]
            if len(matches) != 1:
                raise ValueError(f"{name} has {len(matches)} pretrained entries ({', '.join(matches) or 'none'}); "
                                 + "name one, e.g. create_model('ae_conv.mnist', pretrained=True).")
            name = matches[0]
        if name not in entries:
            raise unknown_name_error("pretrained model", name, entries)
        if kwargs:
            raise ValueError(f"A pretrained model keeps its card's architecture; remove {sorted(kwargs)} "
                             + "or pass pretrained=False.")
        return load_pretrained(name)
    if name in entries and name not in list_models():
        card = get_card(name)
        if not kwargs:
            return build_from_card(card)
        return build_model(card.model, **{"input_shape": tuple(card.input_shape), "latent_dim": card.latent_dim,
                                          **card.family_args, **kwargs})
    if name not in list_models():
        raise unknown_name_error("model", name, list_models() + entries)
    return build_model(name, **kwargs)
