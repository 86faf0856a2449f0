"""What gets exported: one part of an autoencoder, with stable tensor names and its metadata."""

from __future__ import annotations

import keras

from zoo.checks import check_choice
from zoo.models import Autoencoder

#: Part -> (input name, output name). These names are the exported interface.
PARTS: dict[str, tuple[str, str]] = {
    "encoder": ("images", "codes"),
    "decoder": ("codes", "reconstructions"),
    "autoencoder": ("images", "reconstructions"),
}

DEFAULT_PREPROCESSING = "float32 images in [0, 1] (uint8 pixels / 255), shape (batch, height, width, channels)"


def check_part(part: str) -> str:
    """Return ``part`` if it names a part, else raise with the accepted names."""
    return check_choice("part", part, tuple(PARTS))


def part_input_shape(model: Autoencoder, part: str) -> tuple[int, ...]:
    """Per-example input shape of ``part``."""
    return (model.latent_dim,) if PARTS[check_part(part)][0] == "codes" else tuple(model.data_shape)


def part_graph(model: Autoencoder, part: str) -> keras.Model:
    """A functional model of ``part`` with input ``images``/``codes`` and a one-key dict output.

    The autoencoder part is ``decoder(encoder(x))``: the training-only corruption
    of denoising models is left out, and a VAE's encoder is its posterior mean,
    so every exported graph is deterministic.
    """
    if not isinstance(model, Autoencoder):
        raise TypeError(
            "Export expects a zoo.Autoencoder (or a pretrained name / .keras path that loads one). "
            + f"Received: {type(model).__name__}"
        )
    in_name, out_name = PARTS[check_part(part)]
    inputs = keras.Input(shape=part_input_shape(model, part), name=in_name)
    if part == "encoder":
        outputs = model.encoder(inputs)
    elif part == "decoder":
        outputs = model.decoder(inputs)
    else:
        outputs = model.decoder(model.encoder(inputs))
    return keras.Model(inputs, {out_name: outputs}, name=f"{model.name}_{part}")


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


def export_metadata(model: Autoencoder, part: str, card=None) -> dict:
    """Metadata embedded in (or beside) every artifact: what it is and how to feed it."""
    from zoo.environment import environment

    in_name, out_name = PARTS[check_part(part)]
    graph_in = part_input_shape(model, part)
    graph_out = tuple(model.data_shape) if out_name == "reconstructions" else (model.latent_dim,)
    env = environment()
    return {
        "producer": f"aezoo {env['versions']['aezoo']}",
        "model_name": card.name if card is not None else model.name,
        "family": card.model if card is not None else model.name,
        "class": type(model).__name__,
        "part": part,
        "latent_dim": model.latent_dim,
        "input_shape": list(model.data_shape),
        "inputs": {in_name: [None, *graph_in]},
        "outputs": {out_name: [None, *graph_out]},
        "preprocessing": card.preprocessing if card is not None else DEFAULT_PREPROCESSING,
        "card": card_summary(card),
        "keras_version": env["versions"].get("keras"),
    }
