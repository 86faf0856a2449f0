"""What an export is of, resolved once: ``export_model``'s ``model`` argument and its options, typed.

``model`` may be any of the :data:`SOURCES`: a :class:`zoo.Autoencoder`, a pretrained name, a ``.keras``
file or run folder (each becomes a :class:`PartTarget`: one part of an autoencoder), or a fitted
:class:`zoo.anomaly.Detector` / :class:`zoo.anomaly.DetectorEnsemble` or a folder saved by either (a
:class:`DetectorTarget`: the scoring graph, with its threshold in metadata). :func:`resolve_target` is
the one place that tells them apart. Its options become an :class:`ExportSettings`
(:func:`export.settings.resolve_settings`); everything after works on the two typed objects.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import keras

from export.detector import DETECTOR_PART, detector_metadata, detector_models
from export.graph import check_loaded, check_part, export_metadata, part_graph, pretrained_card
from export.registry import ExportFormat
from zoo.anomaly import DETECTOR_FILE, ENSEMBLE_FILE, Detector, DetectorEnsemble, load_detector
from zoo.models.autoencoder import Autoencoder

#: The part exported when none is named.
DEFAULT_PART = "encoder"


@dataclass(frozen=True)
class PartTarget:
    """One part of an autoencoder: ``images -> codes`` (encoder), ``codes -> reconstructions`` (decoder) or both.

    Attributes:
        model: The autoencoder.
        part: ``"encoder"``, ``"decoder"``, ``"autoencoder"`` (see :data:`export.PARTS`) or a part the
            model's class declares (:func:`export.graph.model_parts`; a VQ-VAE's ``"encoder_indices"``,
            ``"index_decoder"``).
        card: The pretrained card embedded in the artifact, or None.
        name: What its exports are called (``aezoo export`` file names): the card's name, a file's stem
            or the model's name.
    """

    model: Autoencoder
    part: str
    card: Any = None
    name: str = ""
    kind: ClassVar[str] = "part"

    def graph(self) -> keras.Model:
        """The deterministic functional graph of the part (one named input, one named output)."""
        return part_graph(self.model, self.part)

    def metadata(self) -> dict:
        """What the artifact embeds: the model, the part, its tensors and the card."""
        return export_metadata(self.model, self.part, self.card)

    def describe(self) -> str:
        """The target in words, for messages."""
        return f"the {self.part} of {self.name}"


@dataclass(frozen=True)
class DetectorTarget:
    """A fitted anomaly detector or ensemble: ``images -> {scores, error_maps}``, its threshold in metadata.

    Attributes:
        detector: The :class:`zoo.anomaly.Detector` or :class:`zoo.anomaly.DetectorEnsemble`.
        card: The pretrained card of its (first member's) model, or None.
        name: What its exports are called: the folder's name, or the model's.
    """

    detector: Detector | DetectorEnsemble
    card: Any = None
    name: str = ""
    kind: ClassVar[str] = "detector"
    part: ClassVar[str] = DETECTOR_PART

    @property
    def model(self) -> Autoencoder:
        """The autoencoder whose input the graph takes (an ensemble's first member's)."""
        return detector_models(self.detector)[0]

    def graph(self) -> keras.Model:
        """:meth:`Detector.scoring_model` (refuses unfitted detectors and the sampled ELBO score)."""
        return self.detector.scoring_model()

    def metadata(self) -> dict:
        """The model's metadata plus ``"detector"``: threshold, how it was chosen, scores and statistics."""
        return detector_metadata(self.detector, self.card)

    def describe(self) -> str:
        """The target in words, for messages."""
        return f"the detector {self.name}"


ExportTarget = PartTarget | DetectorTarget


def part_target(model: Autoencoder, part: str | None = None, card=None, name: str = "") -> PartTarget:
    """A :class:`PartTarget`, refusing an unknown part or one whose pretrained weights were not loaded."""
    part = check_part(part or DEFAULT_PART, model)
    check_loaded(model, part)
    card = card if card is not None else pretrained_card(model)
    return PartTarget(model, part, card, name or (card.name if card is not None else model.name))


def detector_target(detector: Detector | DetectorEnsemble, part: str | None = None, card=None,
                    name: str = "") -> DetectorTarget:
    """A :class:`DetectorTarget`, refusing a ``part`` (a detector is one graph) and members with unloaded weights."""
    if part not in (None, DETECTOR_PART):
        raise ValueError(f"A detector exports as one graph (images -> scores, error_maps), so part={part!r} does "
                         + "not apply; export detector.model to get its parts.")
    models = detector_models(detector)
    for model in models:
        check_loaded(model, "autoencoder")
    card = card if card is not None else pretrained_card(models[0])
    return DetectorTarget(detector, card, name or (card.name if card is not None else models[0].name))


def _retarget(target: ExportTarget, part: str | None, card) -> ExportTarget:
    if part is None and card is None:
        return target
    if isinstance(target, PartTarget):
        return part_target(target.model, part or target.part, card or target.card, target.name)
    return detector_target(target.detector, part, card or target.card, target.name)


def _is_detector_folder(source) -> bool:
    return isinstance(source, (str, os.PathLike)) and any((Path(source) / name).is_file()
                                                          for name in (DETECTOR_FILE, ENSEMBLE_FILE))


def _from_path(source: str | os.PathLike, part: str | None, card) -> PartTarget:
    from zoo.pretrained import load_target  # unknown names are refused there, with the close matches

    model, found = load_target(source)
    card = card if card is not None else found
    return part_target(model, part, card, card.name if card is not None else Path(source).stem)


#: What ``model`` may be, tried in order: what it is in words, a test, and how it becomes a target
#: (given ``part`` and ``card``).
SOURCES: tuple[tuple[str, Callable[[Any], bool], Callable[[Any, str | None, Any], ExportTarget]], ...] = (
    ("an export target", lambda s: isinstance(s, (PartTarget, DetectorTarget)), _retarget),
    ("a fitted zoo.anomaly.Detector or DetectorEnsemble", lambda s: isinstance(s, (Detector, DetectorEnsemble)),
     detector_target),
    ("a folder saved by Detector.save or DetectorEnsemble.save", _is_detector_folder,
     lambda s, part, card: detector_target(load_detector(s), part, card, Path(s).resolve().name)),
    ("a zoo.Autoencoder", lambda s: isinstance(s, Autoencoder), part_target),
    ("a pretrained name, .keras file or run folder", lambda s: isinstance(s, (str, os.PathLike)), _from_path),
)


def resolve_target(model, part: str | None = None, card=None) -> ExportTarget:
    """What ``model`` (any of :data:`SOURCES`) exports as: a :class:`PartTarget` or a :class:`DetectorTarget`.

    Args:
        model: An autoencoder, pretrained name, ``.keras`` file, run folder, fitted detector or ensemble,
            a detector folder, or a target resolved before (returned as is, or with ``part``/``card`` applied).
        part: The part of an autoencoder (default ``"encoder"``); None or ``"detector"`` for a detector.
        card: A pretrained card to embed instead of the one found for the model.

    Raises:
        TypeError: ``model`` is none of the :data:`SOURCES` (the message lists them).
        ValueError: An unknown name (listing close matches) or part, a part of a detector, or a part whose
            pretrained weights were not loaded.
    """
    for _, matches, build in SOURCES:
        if matches(model):
            return build(model, part, card)
    kinds = [what for what, _, _ in SOURCES[1:]]
    raise TypeError(f"Export expects {', '.join(kinds[:-1])} or {kinds[-1]}. Received: {type(model).__name__}")


def resolve_model(model, card=None) -> tuple[Autoencoder, object]:
    """An autoencoder from a model, pretrained name or ``.keras`` path, with its pretrained card if any.

    For callers that run the model itself rather than export it (``aezoo encode --runtime keras``).
    """
    from zoo.pretrained import load_target

    if isinstance(model, (str, os.PathLike)):
        return load_target(model)
    return model, card if card is not None else pretrained_card(model)


@dataclass(frozen=True)
class ExportSettings:
    """The options of one export, checked against its target and format, defaults filled in.

    Made by :func:`export.settings.resolve_settings`.

    Attributes:
        fmt: The format.
        quantize: A quantize option of ``fmt``, or None (float32).
        atol: Max abs error bound (parts: None when quantized and not given; detectors: the maps' base bound).
        mse_rtol: Bound on reconstruction-MSE growth, or None.
        score_rtol: Detectors: the scores' bound relative to max |score|.
        fallback: ``"auto"`` or None.
        calibration_data: Calibration inputs as given (checked when the plan is made).
        options: The format's declared options that were given.
    """

    fmt: ExportFormat
    quantize: str | None = None
    atol: float | None = None
    mse_rtol: float | None = None
    score_rtol: float | None = None
    fallback: str | None = None
    calibration_data: Any = None
    options: dict = field(default_factory=dict)
