"""Convert PyTorch Tiny AutoEncoder checkpoints (``taesd_encoder.pth`` and the like) into zoo weights.

Every Keras layer with weights in :mod:`zoo.families.tae` is named after the
PyTorch module it reproduces (dots as dashes), so the mapping is by name: a
``Conv2d`` weight ``(out, in, kh, kw)`` becomes a Keras kernel ``(kh, kw, in, out)``,
a ``GroupNorm``'s weight and bias become gamma and beta. The conversion refuses,
in one line naming the first problem, a checkpoint with a missing or unused
tensor or a shape that differs; nothing is half-loaded.

:func:`convert_checkpoint` is the whole conversion (what ``aezoo convert`` runs):
checkpoint files in, a folder out with one float16 ``.weights.h5`` per part, the
licence notice and a card (provenance, conventions and, optionally, quality on
real photographs), loadable with ``zoo.load_pretrained(folder)``, SHA-256 checked.

Example:
    >>> card = convert_checkpoint("taesd_encoder.pth", "taesd_decoder.pth", out="my_tae")
    >>> model = zoo.load_pretrained("my_tae")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from zoo.pretrained import PRETRAINED_DIR, Card, config_sha256, load_pretrained, sha256
from zoo.utils.atomic import atomic_path, write_text_atomic

#: Variant -> builder and its arguments; a checkpoint's file name starts with the variant.
VARIANTS: dict[str, dict] = {
    "taesd": {"model": "tae", "latent_dim": 4, "family_args": {"midblock_gn": False}},
    "taesdxl": {"model": "tae", "latent_dim": 4, "family_args": {"midblock_gn": False}},
    "taesd3": {"model": "tae", "latent_dim": 16, "family_args": {"midblock_gn": False}},
    "taef1": {"model": "tae", "latent_dim": 16, "family_args": {"midblock_gn": False}},
    "taef2": {"model": "tae", "latent_dim": 32, "family_args": {"midblock_gn": True}},
    "taesana": {"model": "tae_f32", "latent_dim": 32, "family_args": {}},
}


class ConversionError(ValueError):
    """A checkpoint does not fit the architecture: a missing, unused or misshapen tensor."""


def torch_name(layer_name: str, prefix: str) -> str:
    """The PyTorch module path of a Keras layer (``"encoder-4-conv-0"`` -> ``"4.conv.0"``)."""
    return layer_name[len(prefix) + 1:].replace("-", ".")


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; float16 checkpoints are upcast by numpy below
        value = value.detach().cpu().float().numpy() if str(value.dtype) == "torch.bfloat16" else value.detach().cpu().numpy()
    return np.asarray(value)


def expected_tensors(network) -> dict[str, tuple[int, ...]]:
    """PyTorch parameter name -> PyTorch shape that ``network`` (an encoder or decoder) needs."""
    out = {}
    for layer, keras_shape, suffix in _slots(network):
        out[f"{torch_name(layer.name, network.name)}.{suffix}"] = _torch_shape(keras_shape, suffix, layer)
    return out


def _torch_shape(keras_shape, suffix: str, layer) -> tuple[int, ...]:
    if suffix == "weight" and len(keras_shape) == 4:
        kh, kw, cin, cout = keras_shape
        return (cout, cin, kh, kw)
    return tuple(keras_shape)


def _slots(network):
    """(layer, Keras variable shape, PyTorch suffix) for every variable of ``network``, in layer order."""
    for layer in network.layers:
        for variable, suffix in zip(layer.weights, ("weight", "bias"), strict=False):
            yield layer, tuple(variable.shape), suffix


def load_state_dict(network, state_dict: Mapping[str, object], source: str = "state_dict") -> None:
    """Copy a PyTorch ``state_dict`` into ``network`` (``model.encoder_network`` or ``model.decoder``).

    Args:
        network: The Keras encoder or decoder of a :class:`zoo.families.tae.TinyAutoencoder`.
        state_dict: Parameter name -> tensor or array, as ``torch.load`` returns it.
        source: What to call the checkpoint in messages (its path).

    Raises:
        ConversionError: A tensor the network needs is missing, one is left over, or a shape
            differs; ``network`` is unchanged.
    """
    expected = expected_tensors(network)
    given = {str(k): _as_numpy(v) for k, v in state_dict.items()}
    missing = [k for k in expected if k not in given]
    unused = [k for k in given if k not in expected]
    if missing or unused:
        what = (f"missing {len(missing)} tensor(s), first {missing[0]!r}" if missing else "")
        what += ("; " if missing and unused else "") + (
            f"{len(unused)} unused tensor(s), first {unused[0]!r}" if unused else "")
        raise ConversionError(f"{source} does not fit the {network.name} of this variant: {what}. "
                              + "Is it the right variant and part (encoder or decoder)?")
    for key, shape in expected.items():
        if tuple(given[key].shape) != shape:
            raise ConversionError(f"{source}: tensor {key!r} has shape {tuple(given[key].shape)}, "
                                  + f"expected {shape}. Is it the right variant?")
    values: dict[str, list[np.ndarray]] = {}
    for layer, _shape, suffix in _slots(network):
        array = given[f"{torch_name(layer.name, network.name)}.{suffix}"]
        if array.ndim == 4:
            array = array.transpose(2, 3, 1, 0)
        values.setdefault(layer.name, []).append(array)
    for layer in network.layers:
        if layer.name in values:
            layer.set_weights([v.astype(w.dtype) for v, w in zip(values[layer.name], layer.weights, strict=True)])


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``.pth`` state_dict with ``torch.load(weights_only=True)``; a damaged file says so in one line."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dev dependency
        raise ImportError("Reading a .pth checkpoint needs PyTorch: pip install torch") from None
    try:
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"No checkpoint at {path}.") from None
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged zip/pickle
        detail = " ".join(str(err).split())[:200]
        raise ConversionError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt): {detail}") from None
    if not isinstance(state, Mapping) or not all(hasattr(v, "shape") for v in state.values()):
        raise ConversionError(f"{path} holds a {type(state).__name__}, not a state_dict of tensors.")
    return {k: _as_numpy(v) for k, v in state.items()}


def detect_variant(filename: str | os.PathLike) -> str:
    """The variant a checkpoint file name names (``taef2_encoder.pth`` -> ``"taef2"``)."""
    from zoo.utils.checks import unknown_name_error

    stem = os.path.basename(os.fspath(filename)).split("_")[0].split(".")[0].lower()
    if stem not in VARIANTS:
        raise unknown_name_error("Tiny AutoEncoder variant", stem, sorted(VARIANTS))
    return stem


#: Where every variant comes from (github madebyollin/taesd); a user's own files keep this unless told otherwise.
UPSTREAM = {"repository": "https://github.com/madebyollin/taesd", "author": "Ollin Boer Bohan",
            "licence": "MIT", "copyright": "Copyright (c) 2023 Ollin Boer Bohan"}
#: The full MIT notice shipped beside the weights (and copied into every converted folder).
LICENCE_FILE = "TAESD_LICENSE.md"
#: What each variant was distilled from (the upstream README): its latents live in that VAE's latent space.
DISTILLED_FROM = {
    "taesd": "the Stable Diffusion 1.x/2.x VAE", "taesdxl": "the SDXL VAE", "taesd3": "the Stable Diffusion 3 VAE",
    "taef1": "the FLUX.1 VAE", "taef2": "the FLUX.2 VAE",
    "taesana": "Sana's DC-AE (dc-ae-f32c32-sana-1.0, 32x down, 32 channels)",
}
PARTS = ("encoder", "decoder")
#: Dtypes the weights files may be stored in (float16 holds the published checkpoints exactly).
WEIGHTS_DTYPES = ("float16", "float32")


def detect_part(filename: str | os.PathLike) -> str | None:
    """The part a checkpoint file name names (``taef2_decoder.pth`` -> ``"decoder"``), or None."""
    stem = os.path.basename(os.fspath(filename)).lower()
    found = [p for p in PARTS if f"_{p}" in stem]
    return found[0] if len(found) == 1 else None


def tensor_sha256(state_dict: Mapping[str, np.ndarray], dtype: str = "float16") -> str:
    """SHA-256 of a state_dict's values as ``dtype`` (sorted names, shapes and little-endian bytes).

    The card records it for each part so the stored weights can be checked against
    the original tensors without the original file (:func:`stored_state_dict`).
    """
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        array = np.ascontiguousarray(np.asarray(state_dict[key]).astype(np.dtype(dtype).newbyteorder("<")))
        digest.update(f"{key}:{array.shape}:".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def stored_state_dict(network) -> dict[str, np.ndarray]:
    """``network``'s weights back in the PyTorch layout and names (the inverse of :func:`load_state_dict`)."""
    import keras

    out = {}
    for layer, _shape, suffix in _slots(network):
        variable = layer.weights[["weight", "bias"].index(suffix)]
        array = keras.ops.convert_to_numpy(variable.value)
        out[f"{torch_name(layer.name, network.name)}.{suffix}"] = array.transpose(3, 2, 0, 1) if array.ndim == 4 else array
    return out


def write_card(card: Card, path: str | os.PathLike) -> Path:
    """Write ``card`` as JSON to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    text = json.dumps(card.to_dict(), indent=2, default=list) + "\n"
    return write_text_atomic(path, text)


def _check_files(encoder, decoder, variant: str | None) -> tuple[str, dict[str, Path]]:
    """The variant and the checkpoint path of each part; wrong order, parts or variants fail in one line."""
    files = {"encoder": Path(encoder)} | ({"decoder": Path(decoder)} if decoder is not None else {})
    for part, path in files.items():
        if not path.is_file():
            raise FileNotFoundError(f"No {part} checkpoint at {path}.")
        named = detect_part(path)
        if named is not None and named != part:
            raise ConversionError(f"{path} is named as a {named} checkpoint but was given as the {part}; "
                                  + "pass the encoder first, then the decoder.")
    if variant is None:
        variant = detect_variant(files["encoder"])
    elif variant not in VARIANTS:
        from zoo.utils.checks import unknown_name_error

        raise unknown_name_error("Tiny AutoEncoder variant", variant, sorted(VARIANTS))
    for path in files.values():
        stem = path.name.split("_")[0].split(".")[0].lower()
        if stem in VARIANTS and stem != variant:
            raise ConversionError(f"{path} is named as a {stem} checkpoint, but the variant is {variant}; "
                                  + "pass matching files (or --variant).")
    return variant, files


def _state_hash_source(state: dict[str, np.ndarray], dtype: str) -> dict:
    rounded = {k: v.astype(dtype).astype(np.float64) for k, v in state.items()}
    change = max(float(np.max(np.abs(rounded[k] - v.astype(np.float64)), initial=0.0)) for k, v in state.items())
    return {"tensors": len(state), "dtypes": sorted({str(v.dtype) for v in state.values()}),
            "stored_exactly": change == 0.0, "storage_max_abs_change": change,
            "tensor_sha256": tensor_sha256(state, dtype)}


def convert_checkpoint(encoder: str | os.PathLike, decoder: str | os.PathLike | None = None, *,
                       out: str | os.PathLike, variant: str | None = None, name: str | None = None,
                       overwrite: bool = False, commit: str | None = None,
                       repository: str = UPSTREAM["repository"], weights_dtype: str = "float16",
                       evaluate: bool = False, command: str | None = None, note: str = "") -> Card:
    """Convert a Tiny AutoEncoder's PyTorch checkpoints into a loadable zoo folder (what ``aezoo convert`` runs).

    Writes ``NAME.encoder.weights.h5`` (and ``NAME.decoder.weights.h5``) stored as
    ``weights_dtype`` (cast to float32 when loaded), the licence notice and ``NAME.json``,
    each through a temporary file, fsync and rename, the card last; nothing is written
    unless every tensor of every part fits. The written files are reloaded and checked.

    Args:
        encoder: The encoder's ``.pth`` state_dict (e.g. ``taesd_encoder.pth``).
        decoder: The decoder's, or None for an encoder-only entry.
        out: Output folder (created).
        variant: One of :data:`VARIANTS`; default from the file name's prefix.
        name: Entry name (default ``<builder>.<variant>``, e.g. ``"tae.taesd"``).
        overwrite: Replace existing files of the same name.
        commit: The upstream commit the files come from, recorded in the card.
        repository: The upstream repository, recorded in the card.
        weights_dtype: ``"float16"`` (exact for the published checkpoints) or ``"float32"``.
        evaluate: Also measure quality on the sample photographs (``zoo.evaluation.evaluate.evaluate_photos``):
            ``metrics`` on the full crops, ``sample_metrics`` on 128x128 crops.
        command: The command line to record (default: the equivalent ``aezoo convert``).
        note: Appended to the card's notes (e.g. why a part is missing).

    Returns:
        The written :class:`zoo.pretrained.Card`.

    Raises:
        ConversionError: A file is not a state_dict of this variant and part (one line, first problem).
        FileNotFoundError: A checkpoint is missing.
        FileExistsError: An output file exists and ``overwrite`` is False.
    """
    start = time.perf_counter()
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"weights_dtype must be one of {WEIGHTS_DTYPES}. Received: {weights_dtype!r}")
    variant, files = _check_files(encoder, decoder, variant)
    spec = VARIANTS[variant]
    name = name or f"{spec['model']}.{variant}"
    out = Path(out)
    targets = {part: out / f"{name}.{part}.weights.h5" for part in files}
    card_file = out / f"{name}.json"
    if not overwrite:
        for path in [card_file, *targets.values()]:
            if path.exists():
                raise FileExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it.")
    states = {part: read_state_dict(path) for part, path in files.items()}
    from zoo.families import build_model

    kwargs = {"latent_dim": spec["latent_dim"], **spec["family_args"]}
    stored = build_model(spec["model"], dtype=weights_dtype, **kwargs)
    for part, state in states.items():
        load_state_dict(stored.components[part], state, source=str(files[part]))

    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:  # every file or none: an error removes every temporary file
        card_temp = stack.enter_context(atomic_path(card_file))  # entered first, so renamed last
        temps = {part: stack.enter_context(atomic_path(targets[part])) for part in files}
        for part, temp in temps.items():
            stored.components[part].save_weights(temp)
        if not (out / LICENCE_FILE).exists():
            shutil.copyfile(PRETRAINED_DIR / LICENCE_FILE, stack.enter_context(atomic_path(out / LICENCE_FILE)))
        weights = {p: {"file": targets[p].name, "sha256": sha256(t), "bytes": t.stat().st_size} for p, t in temps.items()}
        card = _card(name, variant, files, states, weights, weights_dtype, commit, repository, command, out)
        card = Card(**{**card.__dict__, "notes": " ".join(filter(None, [card.notes, note]))})
        card.training["wall_time_s"] = round(time.perf_counter() - start, 2)
        card.extra["config_sha256"] = config_sha256(card.to_dict())
        card_temp.write_text(json.dumps(card.to_dict(), indent=2, default=list) + "\n")

    for part, state in states.items():  # the files as written hold exactly the converted values
        stored.components[part].load_weights(targets[part])
        back = stored_state_dict(stored.components[part])
        if any(not np.array_equal(back[k], state[k].astype(weights_dtype)) for k in state):
            raise ConversionError(f"{targets[part]} does not reload to the converted values.")  # pragma: no cover
    if evaluate:
        model = load_pretrained(card_file)  # SHA-256 checked, cast to float32
        from zoo.evaluation.evaluate import PHOTOS, SAMPLE_PHOTO_SIZE, evaluate_photos
        from zoo.utils.environment import environment

        card = Card(**{**card.__dict__, "metrics": evaluate_photos(model, PHOTOS),
                       "sample_metrics": evaluate_photos(model, f"{PHOTOS}:{SAMPLE_PHOTO_SIZE}")})
        card.extra["evaluation_environment"] = environment()
        write_card(card, card_file)
    return card


def _card(name: str, variant: str, files: dict[str, Path], states: dict, weights: dict, weights_dtype: str,
          commit: str | None, repository: str, command: str | None, out: Path) -> Card:
    """The card of a conversion: provenance, conventions, the weights; metrics are added by ``evaluate``."""
    from zoo.data.photos import CITATION as PHOTOS_CITATION
    from zoo.evaluation.evaluate import PHOTOS
    from zoo.utils.environment import environment

    spec = VARIANTS[variant]
    down = 32 if spec["model"] == "tae_f32" else 8
    in_zoo = out.resolve() == PRETRAINED_DIR.resolve()
    target = name if in_zoo else str(out)
    if command is None:
        command = " ".join(["aezoo convert", *(p.name for p in files.values()), "--variant", variant, "--name", name,
                            "--out", str(out)] + (["--commit", commit] if commit else []))
    missing = [p for p in PARTS if p not in files]
    source = {
        **UPSTREAM, "repository": repository, "commit": commit or "unknown", "licence_file": LICENCE_FILE,
        "variant": variant, "distilled_from": DISTILLED_FROM[variant],
        "files": {p: {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size,
                      **_state_hash_source(states[p], weights_dtype)} for p, path in files.items()},
        "missing_parts": {p: "no checkpoint was converted for this part; its weights are absent" for p in missing},
    }
    conventions = {
        "input": f"RGB, channels last, float in [0, 1] (uint8 is scaled by 1/255); height and width multiples of {down}",
        "latents": f"raw, (H/{down}, W/{down}, {spec['latent_dim']}), roughly within +-3; the decoder soft-clamps "
                   + "them with tanh(z / 3) * 3; zoo.families.tae.scale_latents maps them to [0, 1] (z / 6 + 0.5)",
        "output": "decoded images clamped to [0, 1]",
        "latent_scale": "1 (no scale_factor or shift, unlike the teacher VAE's own latents)",
    }
    return Card(
        name=name, model=spec["model"], dataset=PHOTOS,
        split="evaluation only: the weights were distilled by their author, not trained by aezoo",
        preprocessing=conventions["input"], input_shape=(None, None, 3), latent_dim=spec["latent_dim"],
        family_args=dict(spec["family_args"]), weights=weights,
        training={"command": command, "seed": None, "epochs": None, "wall_time_s": None, "ported": True,
                  "environment": environment()},
        metrics={}, sample_metrics={},
        licence=f"{UPSTREAM['licence']} ({UPSTREAM['copyright']}); the full notice is in {LICENCE_FILE}",
        citation=f"{UPSTREAM['author']}, Tiny AutoEncoder ({variant}), {repository}. {PHOTOS_CITATION}",
        notes=(f"Ported from {variant} ({DISTILLED_FROM[variant]}), stored as {weights_dtype}, loaded as float32."
               + (f" No {' or '.join(missing)} weights: loaded_parts says so and exporting it is refused."
                  if missing else "")),
        evaluate_command=f"aezoo evaluate {target} --check-card",
        extra={"kind": "ported", "source": source, "conventions": conventions, "weights_dtype": weights_dtype},
    )
