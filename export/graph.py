"""What gets exported: one part of an autoencoder, with stable tensor names and its metadata."""

from __future__ import annotations

import keras
import numpy as np

from zoo.models.autoencoder import PARTS as ZOO_PARTS
from zoo.models.autoencoder import Autoencoder
from zoo.utils.checks import check_choice

#: Part -> (input name, output name). These names are the exported interface.
PARTS: dict[str, tuple[str, str]] = {
    "encoder": ("images", "codes"),
    "decoder": ("codes", "reconstructions"),
    "autoencoder": ("images", "reconstructions"),
}
#: Interface tensor -> (the model attribute holding its per-example shape, its dtype).
TENSORS: dict[str, tuple[str, str]] = {
    "images": ("data_shape", "float32"),
    "codes": ("code_shape", "float32"),
    "reconstructions": ("data_shape", "float32"),
}
#: Where every validation starts and ends: what a part consumes is computed from images, and a
#: part's output is carried on to the reconstructions (:func:`run_keras`).
IMAGES, RECONSTRUCTIONS = "images", "reconstructions"

DEFAULT_PREPROCESSING = "float32 images in [0, 1] (uint8 pixels / 255), shape (batch, height, width, channels)"


def model_parts(model: Autoencoder | None = None) -> dict[str, tuple[str, str]]:
    """Part -> (input tensor, output tensor) of ``model``: :data:`PARTS` and the parts its class declares.

    A model class declares parts of its own in ``EXPORT_PARTS`` (same form as :data:`PARTS`), and any
    tensor they add in ``EXPORT_TENSORS`` (same form as :data:`TENSORS`); a VQ-VAE adds
    ``encoder_indices`` (``images -> indices``) and ``index_decoder`` (``indices -> reconstructions``).
    """
    return {**PARTS, **getattr(model, "EXPORT_PARTS", {})}


def model_tensors(model: Autoencoder | None = None) -> dict[str, tuple[str, str]]:
    """Interface tensor -> (shape attribute, dtype) of ``model``: :data:`TENSORS` and its class's ``EXPORT_TENSORS``."""
    return {**TENSORS, **getattr(model, "EXPORT_TENSORS", {})}


def check_part(part: str, model: Autoencoder | None = None) -> str:
    """Return ``part`` if ``model`` (default: any autoencoder) exports it, else raise listing its parts."""
    return check_choice("part", part, tuple(model_parts(model)))


def tensor_shape(model: Autoencoder, tensor: str) -> tuple[int, ...]:
    """Per-example shape of an interface tensor (``images``, ``codes``, ``reconstructions`` or a model's own)."""
    return tuple(getattr(model, model_tensors(model)[tensor][0]))


def tensor_dtype(model: Autoencoder, tensor: str) -> str:
    """dtype of an interface tensor: ``"float32"``, or the model's own (a VQ-VAE's ``indices``: ``"int32"``)."""
    return model_tensors(model)[tensor][1]


def part_input_shape(model: Autoencoder, part: str) -> tuple[int, ...]:
    """Per-example input shape of ``part``."""
    return tensor_shape(model, model_parts(model)[check_part(part, model)][0])


def steps(model: Autoencoder, start: str, stop: str) -> list[str]:
    """The parts that carry tensor ``start`` to tensor ``stop``, in order (none if they are the same).

    Every part is an edge between two tensors. A part that two others compose (the autoencoder:
    encoder then decoder) is not a step of its own; of the shortest ways through the other parts,
    the first found in the order of :func:`model_parts` is taken, so ``images -> reconstructions``
    is ``encoder, decoder`` for every model, and ``indices -> reconstructions`` is ``index_decoder``.
    """
    parts = model_parts(model)
    edges = set(parts.values())
    single = {p: io for p, io in parts.items()
              if not any((io[0], mid) in edges and (mid, io[1]) in edges for _, mid in edges)}
    ways: dict[str, list[str]] = {start: []}
    frontier = [start]
    while frontier and stop not in ways:
        nxt = []
        for tensor in frontier:
            for part, (src, dst) in single.items():
                if src == tensor and dst not in ways:
                    ways[dst] = [*ways[tensor], part]
                    nxt.append(dst)
        frontier = nxt
    if stop not in ways:
        raise ValueError(f"No parts of {model.name} lead from {start!r} to {stop!r}.")
    return ways[stop]


def run_keras(model: Autoencoder, x: np.ndarray, start: str, stop: str, batch_size: int | None = None) -> np.ndarray:
    """Carry ``x`` from tensor ``start`` to tensor ``stop`` with the Keras parts (:func:`steps`).

    Every exported part is an edge ``input -> output`` of the graph of tensors
    (``images -> encoder -> codes -> decoder -> reconstructions``, and a VQ-VAE's
    ``images -> encoder_indices -> indices -> index_decoder -> reconstructions``),
    which is how its inputs are made from images and how the artifact is put in
    place of its part when validating.
    """
    for part in steps(model, start, stop):
        x = model.get_part(part).predict(x, batch_size=batch_size, verbose=0)
    return x


def check_loaded(model: Autoencoder, part: str) -> None:
    """Refuse ``part`` of a pretrained model if some of its weights were not loaded.

    ``model.loaded_parts`` names the components (``model.components``, or parts)
    whose weights came from the pretrained entry; None means nothing to check.
    """
    loaded = getattr(model, "loaded_parts", None)
    if loaded is None:
        return
    components = getattr(model, "components", None) or {}
    have = set()
    for name in loaded:
        net = components.get(name) or (model.get_part(name) if name in ZOO_PARTS else None)
        have |= {id(v) for v in (net.weights if net is not None else [])}
    if any(id(v) not in have for v in model.get_part(part).weights):
        source = getattr(model, "pretrained_name", None) or model.name
        raise ValueError(
            f"{source} was loaded with the weights of {', '.join(loaded) or 'no part'} only, so its {part} "
            + f"would export untrained weights. Load it with the {part}'s weights "
            + "(e.g. zoo.load_pretrained(name) loads every part) to export it."
        )


def part_graph(model: Autoencoder, part: str) -> keras.Model:
    """A functional model of ``part`` with its named input (``images``, ``codes``...) and a one-key dict output.

    The part is ``model.get_part(part)``: the autoencoder part leaves out the
    training-only corruption of denoising models, and a VAE's encoder is its
    posterior mean, so every exported graph is deterministic.
    """
    if not isinstance(model, Autoencoder):
        raise TypeError(
            "Export expects a zoo.Autoencoder (or a pretrained name / .keras path that loads one). "
            + f"Received: {type(model).__name__}"
        )
    in_name, out_name = model_parts(model)[check_part(part, model)]
    inputs = keras.Input(shape=tensor_shape(model, in_name), name=in_name, dtype=tensor_dtype(model, in_name))
    return keras.Model(inputs, {out_name: model.get_part(part)(inputs)}, name=f"{model.name}_{part}")


def card_summary(card) -> dict | None:
    """The parts of a pretrained card worth shipping inside an artifact."""
    if card is None:
        return None
    metrics = {k: v for k, v in card.metrics.items() if isinstance(v, float)}
    return {
        "name": card.name, "dataset": card.dataset, "split": card.split, "metrics": metrics,
        "licence": card.licence, "citation": card.citation,
        "weights_sha256": {part: w["sha256"] for part, w in card.weights.items()},
    }


def pretrained_card(model: Autoencoder):
    """The card of the pretrained entry ``model``'s weights came from, or None."""
    from zoo.pretrained import get_card, list_pretrained

    name = getattr(model, "pretrained_name", None)
    return get_card(name) if name in list_pretrained() else None


def artifact_metadata(model: Autoencoder, part: str, inputs: dict, outputs: dict, card=None) -> dict:
    """Metadata embedded in (or beside) an artifact of ``model``: what it is and how to feed it.

    Args:
        model: The autoencoder the artifact comes from.
        part: What the artifact computes (a part, or ``"detector"``).
        inputs: Input name -> shape with ``None`` for the batch axis.
        outputs: Output name -> shape, likewise.
        card: The pretrained card, if any.
    """
    from zoo.utils.environment import environment

    env = environment()
    return {
        "producer": f"aezoo {env['versions']['aezoo']}",
        "model_name": card.name if card is not None else model.name,
        "family": card.model if card is not None else model.name,
        "class": type(model).__name__,
        "part": part,
        "latent_dim": model.latent_dim,
        "input_shape": list(model.data_shape),
        "inputs": inputs,
        "outputs": outputs,
        "preprocessing": card.preprocessing if card is not None else DEFAULT_PREPROCESSING,
        "card": card_summary(card),
        "keras_version": env["versions"].get("keras"),
        # Models of any image size say what their sides must divide by (Tiny AutoEncoders: 8 or 32).
        **({"down": int(model.down)} if getattr(model, "down", None) else {}),
        # Trained further after loading a pretrained entry: its card no longer describes these weights.
        **({"source": model.provenance} if getattr(model, "fine_tuned_from", None) else {}),
    }


def export_metadata(model: Autoencoder, part: str, card=None) -> dict:
    """Metadata embedded in (or beside) every artifact of a part: what it is and how to feed it."""
    in_name, out_name = model_parts(model)[check_part(part, model)]
    metadata = artifact_metadata(model, part, {in_name: [None, *tensor_shape(model, in_name)]},
                                 {out_name: [None, *tensor_shape(model, out_name)]}, card)
    dtypes = {t: tensor_dtype(model, t) for t in (in_name, out_name) if tensor_dtype(model, t) != "float32"}
    # Only parts with a tensor that is not float32 (a VQ-VAE's int32 indices) say so.
    return {**metadata, "dtypes": dtypes} if dtypes else metadata
