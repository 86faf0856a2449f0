"""Datasets: MNIST and Fashion-MNIST (local files or TFDS), user data, and tf.data pipelines.

Images come out as ``uint8`` arrays of shape ``(n, 28, 28, 1)``; pipelines scale
them to [0, 1] (the preprocessing every card records). Nothing here reaches the
network unless the caller passes ``download=True``.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data.images import magic, read_images

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


def _read_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
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
            x, y = _read_npz(path, split)
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


_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def _read_array_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y or None)`` from a ``.npy``, ``.npz`` or ``.csv`` file, with errors that name the file."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if magic(path, 6) != _NPY_MAGIC:
            raise ValueError(f"{path} is not a NumPy .npy file (it does not start with the .npy header); "
                             + "save arrays with numpy.save.")
        try:
            return np.load(path, allow_pickle=False), None
        except ValueError as err:
            if "pickle" in str(err):
                raise ValueError(f"{path} holds Python objects (dtype=object), not numbers; aezoo never "
                                 + "unpickles data. Save a numeric array.") from None
            raise ValueError(f"{path} is a damaged .npy file: {err}") from None
        except (OSError, EOFError) as err:
            raise ValueError(f"{path} is a damaged or truncated .npy file: {err}") from None
    if suffix == ".npz":
        if magic(path, 4) != _ZIP_MAGIC:
            raise ValueError(f"{path} is not a NumPy .npz file (not a zip archive); save arrays with numpy.savez.")
        try:
            with np.load(path, allow_pickle=False) as f:
                names = list(f.files)
                if "x" in f:
                    return f["x"], (f["y"] if "y" in f else None)
                if "x_test" in f:
                    return f["x_test"], (f["y_test"] if "y_test" in f else None)
                if len(names) == 1:
                    return f[names[0]], None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{path} is a damaged .npz file or holds Python objects: {err}") from None
        raise ValueError(f"{path} holds arrays {names}; name the data array 'x' (and labels 'y').")
    if suffix in (".csv", ".txt"):
        try:
            return np.loadtxt(path, delimiter=",", dtype="float32", ndmin=2), None
        except ValueError as err:
            raise ValueError(f"{path} is not a CSV file of numbers (one example per row): {err}") from None
    raise ValueError(f"Unsupported data file {path.name}: expected .npy, .npz, .csv or an image folder.")


def load_user_data(path: str | os.PathLike, image_size: tuple[int, int] | None = None,
                   grayscale: bool = True, labels: bool = False, stream: bool = False):
    """Load your own data: ``.npy``, ``.npz`` (key ``x`` or the only array), ``.csv`` rows, or an image folder.

    Files are read without unpickling; a file that is not what its suffix says,
    a damaged one, an empty one, or an unreadable image in a folder fails with a
    ``ValueError`` that names it. Values are returned as stored; the model's input
    contract (:func:`zoo.utils.inputs.as_model_input`) scales and checks them.

    A folder may also hold ``.npy``/``.npz`` shards or be packed by ``aezoo data pack``
    (:func:`zoo.data.streaming.open_stream`); its shards are then concatenated, or, with
    ``stream=True``, returned as a :class:`zoo.data.streaming.Stream` that training reads lazily
    (shard folders always, image folders above ``$AEZOO_STREAM_ABOVE_MB``).

    Args:
        path: A file or a folder of images (PNG/JPEG/BMP/GIF, searched recursively, sorted by path) or shards.
        image_size: ``(height, width)`` to resize images to (folders only; default 28x28).
        grayscale: Read images with one channel (folders only).
        labels: Also return the labels: ``y`` (or ``y_test``) of an ``.npz``, else None.
        stream: Return a :class:`zoo.data.streaming.Stream` for a folder that should stream.

    Returns:
        An array with a leading example axis (images as uint8), or ``(x, y or None)`` with ``labels=True``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No data at {path}.")
    if path.is_dir():
        from zoo.data.streaming import open_stream, streams_when_training

        source = open_stream(path, image_size, grayscale)
        if stream and streams_when_training(source):
            return (source, None) if labels else source
        # open_stream has listed the images (and refused an empty folder): read those, not a second listing.
        x = (read_images([shard.path for shard in source.shards], image_size, grayscale)
             if source.kind == "images" else source.read_all())
        y = None
    else:
        x, y = _read_array_file(path)
    if x.ndim == 0 or len(x) == 0 or x.size == 0:
        raise ValueError(f"{path} holds no examples (array of shape {x.shape}).")
    if y is not None and len(y) != len(x):
        raise ValueError(f"{path} holds {len(x)} examples but {len(y)} labels.")
    return (x, y) if labels else x


def load_spec(source: str | os.PathLike, split: str = "test", image_size: tuple[int, int] | None = None,
              data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Examples and labels (None where a file has no ``y``) from a data spec, as the CLI's data options take them.

    A known dataset gives its ``split``, ``sample:NAME`` the bundled 1k images, and
    anything else is read as a path by :func:`load_user_data` (which names what is wrong with it).
    """
    try:
        spec = parse_data_spec(source)
    except ValueError:
        spec = None
    if spec is not None and spec.kind == "sample":
        return load_sample(spec.name)
    if spec is not None and spec.kind == "dataset":
        return load_dataset(spec.name, split, data_dir=data_dir)
    return load_user_data(source, image_size=image_size, labels=True)


def to_unit_range(x: np.ndarray) -> np.ndarray:
    """Data as float32 in [0, 1]: the input contract (:func:`zoo.utils.inputs.as_model_input`) with any shape.

    ``uint8`` (and other integer pixels in 0..255) are scaled by 1/255; floats must already lie in [0, 1].
    """
    from zoo.utils.inputs import as_model_input

    return as_model_input(x, None, what="data")
