"""Pretrained autoencoders: cards as data, weights and architecture verified by SHA-256 before loading.

Each entry ``family_arch.dataset`` (e.g. ``sparse_kl_dense.mnist``) is a JSON
card in this folder plus one Keras ``.weights.h5`` file per component of the
model (``model.components``: the encoder network, called ``posterior`` for
VAEs, and the decoder), so an encoder loads without its decoder.

Entries are of two kinds (:attr:`Card.kind`): ``"trained"`` here on MNIST or
Fashion-MNIST (their ``training`` names the ``aezoo train`` run), and
``"ported"`` from another framework's checkpoint by :mod:`zoo.pretrained.convert` (e.g.
``tae.flux2``: ``training`` names the ``aezoo convert`` command and ``source``
the original files, author and licence; sizes in ``input_shape`` may be None,
and a part the original does not publish has no weights file). A folder written
by ``aezoo convert`` is loaded the same way: ``load_pretrained("my_tae/")``.

Two hashes make an entry tamper-evident: each weights file's ``sha256``, and the
card's ``config_sha256`` over everything the loader builds from
(:data:`CONFIG_FIELDS`, canonical JSON; see :func:`config_sha256`). Editing a
card's architecture, or pointing it at other weights, fails with a
:class:`ChecksumError` naming the card before anything is built.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.families import build_model
from zoo.utils.checks import unknown_name_error
from zoo.utils.integrity import ChecksumError, sha256, verify_file

if TYPE_CHECKING:
    import keras

    from zoo.models.autoencoder import Autoencoder

PRETRAINED_DIR = Path(__file__).parent
#: A card's metrics are reproduced when every one is within this relative difference.
CARD_RTOL = 0.01


#: The card fields the loader builds the model from (hashed by ``config_sha256``, with the weights' hashes).
CONFIG_FIELDS = ("model", "input_shape", "latent_dim", "family_args")


def config_sha256(card: dict) -> str:
    """SHA-256 of a card's model configuration: :data:`CONFIG_FIELDS` and each part's weights file and hash.

    The JSON is canonical (sorted keys, no spaces, tuples as lists), so the hash
    depends on the values only, never on the card's layout.
    """
    config = {key: card[key] for key in CONFIG_FIELDS}
    config["weights"] = {part: {"file": w["file"], "sha256": w["sha256"]} for part, w in card["weights"].items()}
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=list, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def verify_card(card: Card, path: str | os.PathLike | None = None) -> Card:
    """Return ``card`` if its ``config_sha256`` matches its configuration, else raise :class:`ChecksumError`.

    Args:
        card: The card to check.
        path: Its file, named in the message (default: the entry's file in this folder).
    """
    path = PRETRAINED_DIR / f"{card.name}.json" if path is None else Path(path)
    expected = card.extra.get("config_sha256")
    if not expected:
        raise ChecksumError(f"{path} has no config_sha256, so its architecture cannot be verified; "
                            + "nothing was built.")
    actual = config_sha256(card.to_dict())
    if actual != expected:
        raise ChecksumError(
            f"Card checksum mismatch for {path}: its model configuration ({', '.join(CONFIG_FIELDS)}, weights) "
            + f"hashes to {actual}, but config_sha256 is {expected}. The card was edited; nothing was built."
        )
    return card


@dataclass(frozen=True)
class Card:
    """Everything known about a pretrained entry (see the JSON files beside this module)."""

    name: str
    model: str
    dataset: str
    split: str
    preprocessing: str
    input_shape: tuple[int | None, ...]
    latent_dim: int
    family_args: dict
    weights: dict
    training: dict
    metrics: dict
    sample_metrics: dict
    licence: str
    citation: str
    notes: str = ""
    evaluate_command: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # JSON gives a list, with null for a size the model leaves free (ported RGB entries: [null, null, 3]).
        object.__setattr__(self, "input_shape", tuple(None if s is None else int(s) for s in self.input_shape))

    @classmethod
    def from_dict(cls, data: dict) -> Card:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    @property
    def kind(self) -> str:
        """``"trained"`` (by aezoo, on the card's dataset) or ``"ported"`` (converted from another framework)."""
        return str(self.extra.get("kind", "trained"))

    def to_dict(self) -> dict:
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "extra"}
        out["input_shape"] = list(self.input_shape)
        return {**out, **self.extra}


def list_pretrained(pattern: str | None = None, kind: str | None = None) -> list[str]:
    """Names of the pretrained entries, optionally filtered by a substring and by :attr:`Card.kind`.

    Args:
        pattern: Only names containing this text.
        kind: Only ``"trained"`` or only ``"ported"`` entries (reads their cards).
    """
    names = sorted(p.name[: -len(".json")] for p in PRETRAINED_DIR.glob("*.*.json"))
    names = [n for n in names if pattern is None or pattern in n]
    return names if kind is None else [n for n in names if get_card(n).kind == kind]


def card_path(name: str | os.PathLike) -> Path:
    """The card file of an entry name, of a ``.json`` card, or of a folder holding one card (``aezoo convert``'s)."""
    if str(name) in list_pretrained():
        return PRETRAINED_DIR / f"{name}.json"
    path = Path(name)
    if path.is_dir():
        cards = sorted(path.glob("*.json"))
        if len(cards) != 1:
            raise ValueError(f"{path} holds {len(cards)} .json cards ({', '.join(c.name for c in cards) or 'none'}); "
                             + "name the card file.")
        return cards[0]
    if path.suffix == ".json" and path.is_file():
        return path
    raise unknown_name_error("pretrained model (or card file or folder)", str(name), list_pretrained())


def get_card(name: str | os.PathLike) -> Card:
    """The :class:`Card` of a pretrained entry (or of a card file or folder, see :func:`card_path`)."""
    return Card.from_dict(json.loads(card_path(name).read_text()))


def build_from_card(card: Card, verify: bool = True) -> Autoencoder:
    """An untrained model with the card's architecture.

    Args:
        card: A pretrained entry's card.
        verify: Check ``config_sha256`` first (:func:`verify_card`); only the
            publishing script, which writes that hash, builds from a draft without it.
    """
    if verify:
        verify_card(card)
    return build_model(card.model, input_shape=tuple(card.input_shape), latent_dim=card.latent_dim,
                       **card.family_args)


def load_pretrained(name: str | os.PathLike, parts: tuple[str, ...] | None = None) -> Autoencoder:
    """A pretrained :class:`zoo.Autoencoder`, its weights checked against the card first.

    The model remembers where it came from (``model.pretrained_name``, and
    ``model.loaded_parts``), also after a ``.keras`` save and load.

    Args:
        name: A name from :func:`list_pretrained`, e.g. ``"ae_conv.mnist"``, or a
            folder written by ``aezoo convert`` (or its card file); weights files
            are looked up beside the card.
        parts: Load only these components' weights (names as in ``model.components``:
            ``"encoder"`` (``"posterior"`` for a VAE) and ``"decoder"``; default all).
            The others keep fresh weights, and ``model.loaded_parts`` says so;
            exports of a part whose weights were not loaded are refused.

    Raises:
        ChecksumError: A weights file does not match its SHA-256; nothing is loaded.
        ValueError: ``parts`` names a component the entry does not have.

    Example:
        >>> model = zoo.load_pretrained("vae_conv.mnist")
        >>> codes = model.encode(images)
    """
    path = card_path(name)
    card = verify_card(Card.from_dict(json.loads(path.read_text())), path)
    parts = tuple(card.weights) if parts is None else tuple(parts)
    unknown = sorted(set(parts) - set(card.weights))
    if unknown or not parts:
        raise ValueError(f"{name} has weights for parts {sorted(card.weights)}. Received: parts={parts!r}")
    files = {p: verify_file(path.parent / card.weights[p]["file"], card.weights[p]["sha256"]) for p in parts}
    model = build_from_card(card, verify=False)  # verified above, against its own file
    for part, file in files.items():
        model.components[part].load_weights(file)  # float16 files are cast to the model's float32 on load
    model.set_source({"pretrained": card.name, "parts": sorted(files)})
    return model


def load_target(target: str | os.PathLike) -> tuple[Autoencoder, Card | None]:
    """A model from a pretrained name, a ``.keras`` file or a run folder, and its card if it has one."""
    if str(target) in list_pretrained():
        return load_pretrained(str(target)), get_card(str(target))
    path = Path(target)
    if path.is_dir() and (path / "model.keras").exists():
        path = path / "model.keras"
    if path.suffix == ".keras" and path.is_file():
        model = load_keras_file(path)
        name = getattr(model, "pretrained_name", None)
        return model, (get_card(name) if name in list_pretrained() else None)
    if (path.is_dir() and any(path.glob("*.json"))) or (path.suffix == ".json" and path.is_file()):
        return load_pretrained(path), get_card(path)  # a folder written by aezoo convert
    raise unknown_name_error("pretrained model or .keras file", str(target), list_pretrained())


def load_keras_file(path: str | os.PathLike) -> Autoencoder:
    """A model saved with ``model.save``; a truncated or corrupt file says so, naming it."""
    import zipfile

    import keras

    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable .keras file: it is not a complete zip archive "
                         + "(truncated or corrupt). Save it again with model.save.")
    try:
        from zoo.families import load_families

        load_families()  # registers the classes the file names (family modules load on first use)

        return keras.models.load_model(path)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, TypeError) as err:
        detail = " ".join(str(err).split())[:300] or type(err).__name__
        raise ValueError(f"{path} is not a readable .keras file (truncated, corrupt or not an aezoo model): "
                         + detail) from None


def load_encoder(name: str) -> keras.Model:
    """The pretrained encoder of ``name``: a ``keras.Model`` from images to codes (VAE: the mean)."""
    network = build_from_card(get_card(name)).head.network_name
    return load_pretrained(name, parts=(network,)).encoder


def compare_metrics(metrics: dict, card_metrics: dict, rtol: float = CARD_RTOL) -> list[str]:
    """Lines ``metric card now rel`` for every scalar card metric; failures end with ``FAIL``.

    Args:
        metrics: Freshly computed metrics (:func:`zoo.evaluation.evaluate.evaluate`).
        card_metrics: The card's ``metrics`` (or ``sample_metrics``).
        rtol: Largest relative difference that still reproduces the card.

    Returns:
        One line per metric that both hold.
    """
    lines = []
    for key, want in card_metrics.items():
        if not isinstance(want, float) or key not in metrics:
            continue
        got = metrics[key]
        rel = abs(got - want) / max(abs(want), 1e-12)
        lines.append(f"{key:<28} card {want:<12.6g} now {got:<12.6g} rel {rel:.2e}"
                     + ("  FAIL" if rel > rtol else ""))
    return lines


def load_weights(model: Autoencoder, source: str | os.PathLike, sha256_hex: str,
                 cache_dir: str | os.PathLike | None = None) -> Autoencoder:
    """Load user-hosted weights (a path or an URL) into ``model`` after checking their SHA-256.

    URLs are fetched with ``keras.utils.get_file``, which verifies the hash and
    caches the file. The weights file is one written by ``model.save_weights``.

    Args:
        model: A model with the same architecture as the weights.
        source: Local path, or ``http(s)://`` / ``file://`` URL.
        sha256_hex: Expected SHA-256 of the file.
        cache_dir: Where downloads are cached (default ``~/.keras``).

    Returns:
        ``model``, with the weights loaded.
    """
    import keras

    source = str(source)
    if "://" in source:
        fname = source.rstrip("/").rsplit("/", 1)[-1]
        try:
            path = keras.utils.get_file(fname, origin=source, file_hash=sha256_hex, hash_algorithm="sha256",
                                        cache_dir=cache_dir)
        except ValueError as err:
            raise ChecksumError(f"{source}: {err}") from err
        verify_file(path, sha256_hex)
    else:
        path = verify_file(source, sha256_hex)
    model.load_weights(path)
    return model


__all__ = ["CARD_RTOL", "CONFIG_FIELDS", "Card", "ChecksumError", "build_from_card", "card_path", "config_sha256",
           "load_keras_file", "verify_card", "compare_metrics", "get_card",
           "list_pretrained", "load_encoder", "load_pretrained", "load_target", "load_weights", "sha256", "verify_file"]
