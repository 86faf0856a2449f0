"""Datasets: MNIST and Fashion-MNIST (local files or TFDS), the bundled samples and your own data.

Every command and API reads data through one door, :meth:`DataSpec.load`, which says
what it read (a :class:`Data`: the examples, their labels, the split, and what was
converted). Known datasets come out as ``uint8`` arrays of shape ``(n, 28, 28, 1)``;
pipelines scale pixels to [0, 1] by the one rule of :func:`zoo.data.images.scale_pixels`
(the preprocessing every card records). Nothing here reaches the network unless the
caller passes ``download=True``.

Splits are explicit: ``split="train" | "test" | "all"`` (``--split``), or None for the
task's default (``default=``: train for training and fitting, test for evaluation and
scoring). A known dataset has both splits; ``sample:NAME`` is a slice of the test split;
files follow :mod:`zoo.data.arrays` (a ``keras.datasets``-layout ``.npz`` has both splits,
anything else is ``all``); folders are ``all``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.data.arrays import SPLITS, check_split, read_array_file, unsplit
from zoo.data.images import COLORS, read_images, scale_pixels

_LOG = logging.getLogger(__name__)

PREPROCESSING = "x / 255: uint8 pixels to float32 in [0, 1]; no centring"
ENV_DATA_DIR = "AEZOO_DATA_DIR"
_SAMPLES = Path(__file__).parent / "samples"


@dataclass(frozen=True)
class DatasetInfo:
    """Where a known dataset lives and how to credit it."""

    name: str
    filename: str
    tfds_name: str
    image_shape: tuple[int, int, int]
    licence: str
    citation: str


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "mnist.npz", "mnist", (28, 28, 1),
        "CC BY-SA 3.0",
        "Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits; "
        + "LeCun et al., Gradient-based learning applied to document recognition, Proc. IEEE 86(11), 1998.",
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "fashion_mnist.npz", "fashion_mnist", (28, 28, 1),
        "MIT (© 2017 Zalando SE)",
        "H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST: a Novel Image Dataset for Benchmarking "
        + "Machine Learning Algorithms, arXiv:1708.07747, 2017.",
    ),
}


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a known dataset, or a ``ValueError`` with close matches."""
    from zoo.utils.checks import unknown_name_error

    if name not in DATASETS:
        raise unknown_name_error("dataset", name, sorted(DATASETS))
    return DATASETS[name]


@dataclass(frozen=True)
class Data:
    """Examples read from a data spec, with what they are.

    Attributes:
        x: The examples as stored (images ``uint8``), or a :class:`zoo.data.streaming.Stream`
            when streaming was asked for and the folder streams.
        y: Labels, or None.
        source: The spec as given (``"mnist"``, ``"sample:mnist"``, a path).
        split: The split read: ``"train"``, ``"test"`` or ``"all"``.
        origin: Where the examples come from, in words.
        notes: What reading converted (``"converted 12 RGBA images to RGB"``); empty when nothing.
    """

    x: object
    y: np.ndarray | None
    source: str
    split: str
    origin: str = ""
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.x)

    def summary(self) -> str:
        """One line: ``"mnist.npz, train split, 50 examples; converted 2 RGBA images to RGB"``."""
        line = f"{self.source}, {self.split} split, {len(self):,} examples"
        return "; ".join([line, *self.notes])

    def record(self) -> dict:
        """What run folders and cards record about the data (JSON-ready)."""
        return {"source": self.source, "split": self.split, "count": len(self), "origin": self.origin,
                "converted": list(self.notes)}


#: ``DataSpec.kind`` -> the function that loads it (``spec, split, default, options`` -> :class:`Data`).
LOADERS: dict[str, Callable[..., Data]] = {}


def _loader(kind: str) -> Callable:
    def register(function: Callable[..., Data]) -> Callable[..., Data]:
        LOADERS[kind] = function
        return function

    return register


@dataclass(frozen=True)
class DataSpec:
    """What a ``--dataset`` string names: a known dataset, its bundled sample, or a path.

    Attributes:
        kind: ``"dataset"`` (a full split of a known dataset), ``"sample"``
            (the bundled 1k test images of one) or ``"path"`` (your own data).
        name: The dataset's name, or the path as given.
    """

    kind: str
    name: str

    def __str__(self) -> str:
        return f"sample:{self.name}" if self.kind == "sample" else self.name

    def load(self, split: str | None = None, *, default: str = "train", data_dir: str | os.PathLike | None = None,
             download: bool = False, image_size: tuple[int, int] | None = None, color: str | None = None,
             stream: bool = False) -> Data:
        """Read this spec's examples: the one loader behind every command and API that takes data.

        Args:
            split: ``"train"``, ``"test"`` or ``"all"``; None takes ``default`` where the data
                have splits (a known dataset, a ``keras.datasets``-layout ``.npz``) and
                ``"all"`` where they have none. An explicit split the data lack is an error.
            default: The task's split: ``"train"`` for training and fitting, ``"test"`` for
                evaluation and scoring.
            data_dir: Folder holding ``<dataset>.npz``.
            download: Let tensorflow-datasets download a missing dataset.
            image_size: ``(height, width)`` to read image folders at; None infers it.
            color: ``"gray"`` or ``"rgb"`` to read image folders as; None infers it.
            stream: Return a folder that should stream as a :class:`zoo.data.streaming.Stream`.

        Returns:
            A :class:`Data`; what was converted is also logged (logger ``zoo.data.datasets``, INFO).

        Example:
            >>> data = parse_data_spec("sample:mnist").load(default="test")
            >>> data.split, len(data)
            ('test', 1000)
        """
        check_split(split)
        if default not in SPLITS:
            raise ValueError(f"`default` must be one of {SPLITS}. Received: default={default!r}")
        if color is not None and color not in COLORS:
            raise ValueError(f"`color` must be one of {sorted(COLORS)}. Received: color={color!r}")
        data = LOADERS[self.kind](self, split, default, dict(data_dir=data_dir, download=download,
                                                              image_size=image_size, color=color, stream=stream))
        for note in data.notes:
            _LOG.info("%s: %s", self, note)
        return data


SAMPLE_PREFIX = "sample:"


def parse_data_spec(spec: str | os.PathLike | DataSpec) -> DataSpec:
    """Read ``"mnist"``, ``"sample:fashion_mnist"`` or a path; anything else lists what is accepted.

    Example:
        >>> parse_data_spec("sample:mnist")
        DataSpec(kind='sample', name='mnist')
    """
    from zoo.utils.checks import unknown_name_error

    if isinstance(spec, DataSpec):
        return spec
    text = str(spec)
    if text.startswith(SAMPLE_PREFIX):
        return DataSpec("sample", dataset_info(text[len(SAMPLE_PREFIX):]).name)
    if text in DATASETS:
        return DataSpec("dataset", text)
    if Path(text).exists():
        return DataSpec("path", text)
    known = sorted(DATASETS) + [SAMPLE_PREFIX + n for n in sorted(DATASETS)]
    raise unknown_name_error("dataset (or path)", text, known)


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for ``<name>.npz``, in order."""
    dirs = []
    if data_dir:
        dirs.append(Path(data_dir))
    if os.environ.get(ENV_DATA_DIR):
        dirs.append(Path(os.environ[ENV_DATA_DIR]))
    dirs += [Path.cwd() / ".." / "shared" / "data", Path.home() / ".keras" / "datasets"]
    return dirs


def _read_dataset_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        keys = (f"x_{split}", f"y_{split}")
        if not all(k in f for k in keys):
            raise ValueError(f"{path} is not in keras.datasets layout: expected keys {keys}, found {sorted(f)}")
        return f[keys[0]], f[keys[1]]


def _from_tfds(info: DatasetInfo, split: str, download: bool) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    builder = tfds.builder(info.tfds_name)
    if not builder.is_prepared():
        if not download:
            return None
        builder.download_and_prepare()
    pairs = list(tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True)))
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a full split of a known dataset as ``(images uint8 (n, h, w, c), labels)``.

    Looks for ``<name>.npz`` (``keras.datasets`` layout) in ``data_dir``,
    ``$AEZOO_DATA_DIR``, ``../shared/data`` and ``~/.keras/datasets``; then in
    the TensorFlow Datasets cache; and only downloads through TFDS when
    ``download=True``.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        split: ``"train"`` or ``"test"``.
        data_dir: Folder holding ``<name>.npz``.
        download: Allow TFDS to fetch the data from the internet.

    Returns:
        ``(x, y)`` with ``x`` of shape ``(n, 28, 28, 1)``, dtype ``uint8``.

    Raises:
        FileNotFoundError: Naming every place tried and how to fix it.
    """
    info = dataset_info(name)
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: split={split!r}")
    tried = []
    for folder in candidate_dirs(data_dir):
        path = folder / info.filename
        tried.append(str(path))
        if path.is_file():
            x, y = _read_dataset_npz(path, split)
            return x.reshape((-1, *info.image_shape)), y
    found = _from_tfds(info, split, download)
    if found is not None:
        x, y = found
        return x.reshape((-1, *info.image_shape)).astype("uint8"), y
    tried.append(f"tensorflow-datasets cache for '{info.tfds_name}'")
    raise FileNotFoundError(
        f"Dataset {name!r} not found offline. Tried: {'; '.join(tried)}. "
        + f"Fix: put {info.filename} (keras.datasets layout) in a folder and pass --data-dir FOLDER "
        + f"or set {ENV_DATA_DIR}=FOLDER, or pass --download to fetch it with tensorflow-datasets."
    )


def load_sample(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The bundled 1,000-image slice of a dataset's test split (see ``zoo/samples/README.md``)."""
    info = dataset_info(name)
    with np.load(_SAMPLES / f"{name}_test_1k.npz", allow_pickle=False) as f:
        return f["x"].reshape((-1, *info.image_shape)), f["y"]


def _read_path(path: str | os.PathLike, split: str | None = None, default: str = "all",
               image_size: tuple[int, int] | None = None, color: str | None = None, stream: bool = False) -> Data:
    """Your own data as :class:`Data` (see :func:`load_user_data` for what is accepted)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No data at {path}.")
    notes: tuple[str, ...] = ()
    if path.is_dir():
        from zoo.data.streaming import open_stream, streams_when_training

        source = open_stream(path, image_size, color)
        read = unsplit(path, split, "a folder of images" if source.kind == "images" else "a folder of shards")
        notes = source.notes
        if stream and streams_when_training(source):
            return Data(source, None, str(path), read, source.description, notes)
        # open_stream has listed the images (and refused an empty folder): read those, not a second listing.
        from zoo.data.images import ImagePlan

        x = (read_images([shard.path for shard in source.shards],
                         ImagePlan(source.element_shape[:2], "gray" if source.grayscale else "rgb"))
             if source.kind == "images" else source.read_all())
        y = None
    else:
        x, y, read = read_array_file(path, split, default)
    if x.ndim == 0 or len(x) == 0 or x.size == 0:
        raise ValueError(f"{path} holds no examples (array of shape {x.shape}).")
    if y is not None and len(y) != len(x):
        raise ValueError(f"{path} holds {len(x)} examples but {len(y)} labels.")
    return Data(x, y, str(path), read, f"user data {path}", notes)


def load_user_data(path: str | os.PathLike, image_size: tuple[int, int] | None = None,
                   grayscale: bool | None = None, labels: bool = False, stream: bool = False, *,
                   split: str | None = None, default: str = "all", color: str | None = None):
    """Load your own data: ``.npy``, ``.npz``, ``.csv`` rows, or a folder of images or shards.

    Files are read without unpickling; a file that is not what its suffix says,
    a damaged one, an empty one, or an unreadable image in a folder fails with a
    ``ValueError`` that names it. Values are returned as stored; the model's input
    contract (:func:`zoo.utils.inputs.as_model_input`) scales and checks them.
    Splits follow :mod:`zoo.data.arrays`; image folders' size and colour are inferred
    unless given (:func:`zoo.data.images.plan_images`). :meth:`DataSpec.load` also says
    which split was read and what was converted.

    A folder may also hold ``.npy``/``.npz`` shards or be packed by ``aezoo data pack``
    (:func:`zoo.data.streaming.open_stream`); its shards are then concatenated, or, with
    ``stream=True``, returned as a :class:`zoo.data.streaming.Stream` that training reads lazily
    (shard folders always, image folders above ``$AEZOO_STREAM_ABOVE_MB``).

    Args:
        path: A file or a folder of images (PNG/JPEG/BMP/GIF, searched recursively, sorted by path) or shards.
        image_size: ``(height, width)`` to resize images to (folders only; None: inferred).
        grayscale: Shorthand for ``color``: True is ``"gray"``, False ``"rgb"``.
        labels: Also return the labels (``y``, or ``y_<split>`` of a ``keras.datasets``-layout ``.npz``), else None.
        stream: Return a :class:`zoo.data.streaming.Stream` for a folder that should stream.
        split: ``"train"``, ``"test"``, ``"all"`` or None for ``default``.
        default: The split a ``keras.datasets``-layout ``.npz`` gives when ``split`` is None.
        color: ``"gray"`` or ``"rgb"`` to read images as (folders only; None: inferred).

    Returns:
        An array with a leading example axis (images as uint8), or ``(x, y or None)`` with ``labels=True``.
    """
    if grayscale is not None and color is None:
        color = "gray" if grayscale else "rgb"
    data = _read_path(path, split, default, image_size, color, stream)
    return (data.x, data.y) if labels else data.x


@_loader("dataset")
def _load_known(spec: DataSpec, split: str | None, default: str, options: dict) -> Data:
    split = split or default
    parts = [load_dataset(spec.name, s, options["data_dir"], options["download"])
             for s in (("train", "test") if split == "all" else (split,))]
    x, y = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
    return Data(x, y, str(spec), split, f"{spec.name} {split} split ({len(x):,} images)")


@_loader("sample")
def _load_bundled(spec: DataSpec, split: str | None, default: str, options: dict) -> Data:
    if split == "train":
        raise ValueError(f"{spec} is a 1,000-image slice of {spec.name}'s test split; it has no train split. "
                         + f"Received: split='train'; pass --dataset {spec.name} for the full train split.")
    x, y = load_sample(spec.name)
    return Data(x, y, str(spec), "test", f"bundled 1k sample of {spec.name} test split")


@_loader("path")
def _load_path(spec: DataSpec, split: str | None, default: str, options: dict) -> Data:
    return _read_path(spec.name, split, default, options["image_size"], options["color"], options["stream"])


def data_spec_or_path(source: str | os.PathLike | DataSpec) -> DataSpec:
    """:func:`parse_data_spec`, where anything it does not know is a path (a missing one fails when loaded)."""
    try:
        return parse_data_spec(source)
    except ValueError:
        return DataSpec("path", str(source))


def load_spec(source: str | os.PathLike, default: str = "test", image_size: tuple[int, int] | None = None,
              data_dir: str | os.PathLike | None = None, *, split: str | None = None,
              color: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(examples, labels or None)`` of :meth:`DataSpec.load` for a spec or path, as the CLI's data options take them.

    Args:
        source: ``mnist``, ``sample:NAME`` or a path (read by :func:`load_user_data`, which names what is wrong).
        default: The task's split (``"test"``: scoring, encoding; ``"train"``: fitting).
        image_size: ``(height, width)`` to read image folders at.
        data_dir: Folder holding ``<dataset>.npz``.
        split: An explicit split, or None for ``default``.
        color: ``"gray"`` or ``"rgb"`` to read image folders as.
    """
    data = data_spec_or_path(source).load(split, default=default, data_dir=data_dir, image_size=image_size,
                                          color=color)
    return data.x, data.y


def to_unit_range(x: np.ndarray) -> np.ndarray:
    """Data as float32 in [0, 1]: the input contract (:func:`zoo.utils.inputs.as_model_input`) with any shape.

    Integer pixels are scaled by the one rule (:func:`zoo.data.images.scale_pixels`: ``x / 255``) after their
    range is checked; floats must already lie in [0, 1].
    """
    from zoo.utils.inputs import as_model_input

    return as_model_input(x, None, what="data")


__all__ = ["DATASETS", "LOADERS", "PREPROCESSING", "SPLITS", "Data", "DataSpec", "load_dataset", "load_sample",
           "load_spec", "load_user_data", "parse_data_spec", "scale_pixels", "to_unit_range"]
