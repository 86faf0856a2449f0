"""Data that does not fit in memory: folders of array shards, images or packed TFRecords, read lazily.

A :class:`Stream` is such a folder opened from its headers only: element shape,
dtype and count come from the ``.npy`` headers, the image count and size, or the
``manifest.json`` that ``aezoo data pack`` (:mod:`zoo.data.pack`) writes, so a model can
be built and checked before any example is read. :meth:`Stream.pipeline` then
reads it batch by batch for the active backend:

- TensorFlow: ``tf.data``. Shard files are visited in a seeded order that changes
  every epoch, interleaved, shuffled through a bounded buffer, batched, scaled
  (``uint8`` by 1/255) and prefetched. ``.npy`` shards are read by
  ``FixedLengthRecordDataset`` (a C-order ``.npy`` is a header and fixed-size
  records) and TFRecord shards by ``TFRecordDataset``, so multi-worker training
  auto-shards them by file; ``.npz`` shards and image folders auto-shard by data.
- JAX and PyTorch: :class:`StreamBatches`, a ``keras.utils.PyDataset`` that reads
  only each batch's rows (shards mapped per batch, images decoded per batch) in a
  seeded order shuffled within windows of ``buffer_size`` examples. TFRecord
  shards use ``tf.data`` there too (Keras accepts it on every backend).

Memory stays flat as the folder grows: at most a shuffle buffer, a few shards
(``.npz``) and the file list are held.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data.images import IMAGE_SUFFIXES, list_images, plan_images, read_image
from zoo.utils.inputs import PIXEL_MAX, check_input_shape_of
from zoo.utils.integrity import sha256

MANIFEST = "manifest.json"
SHARD_SUFFIXES = (".npy", ".npz")
#: Image folders larger than this many MB of decoded pixels stream when training; smaller ones are loaded.
ENV_STREAM_ABOVE_MB = "AEZOO_STREAM_ABOVE_MB"
DEFAULT_STREAM_ABOVE_MB = 1024.0
#: Examples in the shuffle buffer (a window of the order under JAX/PyTorch).
DEFAULT_BUFFER = 10_000
_CHUNK = 4096


@dataclass(frozen=True)
class Shard:
    """One file of a stream: its path, number of examples, header size (``.npy``) and recorded SHA-256."""

    path: Path
    count: int
    offset: int = 0
    sha256: str | None = None


def npy_header(path: Path) -> tuple[tuple, np.dtype, bool, int]:
    """``(shape, dtype, fortran_order, header bytes)`` of a ``.npy`` file, from its header only."""
    fmt = np.lib.format
    try:
        with path.open("rb") as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read(f)
            return tuple(shape), np.dtype(dtype), fortran, f.tell()
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable NumPy .npy shard: {' '.join(str(err).split())}") from None


def _npz_header(path: Path) -> tuple[tuple, np.dtype]:
    """Shape and dtype of an ``.npz`` shard's data array (``x`` or its only array), from the member's header."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
            key = "x" if "x" in names else (names[0] if len(names) == 1 else None)
            if key is None:
                raise ValueError(f"it holds arrays {names}; name the data array 'x'")
            with z.open(key + ".npy") as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
                return tuple(shape), np.dtype(dtype)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a readable NumPy .npz shard: {' '.join(str(err).split())}") from None


def check_dtype(dtype: np.dtype, where) -> None:
    """Refuse a dtype that is neither integer pixels nor floats, naming ``where`` it was found."""
    if dtype.hasobject or dtype == np.bool_ or not (np.issubdtype(dtype, np.integer)
                                                    or np.issubdtype(dtype, np.floating)):
        raise ValueError(f"{where} holds dtype={dtype}; expected integer pixels or floats.")


class Stream:
    """A dataset on disk, known from its headers and read lazily (see the module docstring).

    Args:
        root: The folder.
        kind: ``"npy"`` (C-order ``.npy`` shards, read as fixed-size records), ``"arrays"`` (``.npz``
            or other ``.npy`` shards, read whole per file), ``"tfrecord"`` or ``"images"``.
        shards: The files, in their canonical (sorted or manifest) order; one per image for ``"images"``.
        element_shape: Shape of one stored example.
        dtype: Stored dtype (``uint8`` for images).
        value_range: ``(min, max)`` of the values when known without reading (a manifest), else None.
        grayscale: Images only: decode with one channel.
        notes: Images only: what reading converts (:func:`zoo.data.images.plan_images`).
    """

    def __init__(self, root: Path, kind: str, shards: list[Shard], element_shape: tuple, dtype,
                 value_range: tuple[float, float] | None = None, grayscale: bool = True,
                 notes: tuple[str, ...] = ()) -> None:
        self.root, self.kind, self.shards = Path(root), kind, list(shards)
        self.element_shape, self.dtype = tuple(int(d) for d in element_shape), np.dtype(dtype)
        self.target_shape = self.element_shape
        self.value_range, self.grayscale, self.notes = value_range, grayscale, tuple(notes)
        self.counts = np.array([s.count for s in self.shards], dtype=np.int64)

    # The array-like surface the trainer reads before building a model.
    @property
    def shape(self) -> tuple:
        return (len(self), *self.target_shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return int(self.counts.sum())

    @property
    def description(self) -> str:
        unit = "images" if self.kind == "images" else f"{self.kind} shards"
        files = "" if self.kind == "images" else f" in {len(self.shards)} {unit}"
        return f"{self.root} ({len(self):,} examples of shape {self.element_shape} {self.dtype}{files}, streamed)"

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.element_shape)) * self.dtype.itemsize

    def __repr__(self) -> str:
        return f"Stream({self.description})"

    def verify(self) -> None:
        """Check every shard's SHA-256 against the manifest, reading in chunks; a changed shard is named."""
        for shard in self.shards:
            if shard.sha256 is None:
                continue
            if not shard.path.is_file():
                raise ValueError(f"{shard.path} is listed in {self.root / MANIFEST} but missing.")
            if sha256(shard.path) != shard.sha256:
                raise ValueError(f"{shard.path} does not match its SHA-256 in {self.root / MANIFEST}: the shard "
                                 + "changed after it was packed. Pack the data again.")

    def check_images(self) -> None:
        """Open every image's header (no decoding) so a broken file fails now, named, not mid-epoch."""
        from PIL import Image

        for shard in self.shards:
            try:
                with Image.open(shard.path) as img:
                    img.verify()
            except Exception as err:  # noqa: BLE001 - PIL raises many types for a broken file
                raise ValueError(f"Cannot read image {shard.path}: {' '.join(str(err).split()) or type(err).__name__}"
                                 + ". Remove or replace the file.") from None

    def scan_range(self) -> tuple[float, float]:
        """``(min, max)`` over every value, read in chunks; NaN or infinity fails naming the shard and example."""
        low, high = np.inf, -np.inf
        for i, shard in enumerate(self.shards):
            for start in range(0, shard.count, _CHUNK):
                chunk = self.read_rows(i, np.arange(start, min(start + _CHUNK, shard.count)))
                if np.issubdtype(chunk.dtype, np.floating):
                    finite = np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
                    if not finite.all():
                        raise ValueError(f"{shard.path} holds NaN or infinite values, the first in example "
                                         + f"{start + int(np.argmin(finite))}; clean it first.")
                low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
        return low, high

    def for_model(self, expected, value_range: tuple[float, float] | None, what: str) -> Stream:
        """This stream checked against the model's input contract (:mod:`zoo.utils.inputs`) without reading it whole.

        The shape is checked from the headers (a trailing channel axis of 1 is added or
        dropped per batch); a manifest's hashes are verified, every image's header is
        opened, and float or non-``uint8`` integer data have their range checked (from the
        manifest, or by one chunked pass).

        Returns:
            A stream whose batches have the model's shape.
        """
        target = check_input_shape_of((len(self), *self.element_shape), expected, what)
        self.verify()
        if self.kind == "images":
            self.check_images()
        if self.dtype != np.uint8:
            low, high = self.value_range or self.scan_range()
            if np.issubdtype(self.dtype, np.integer):
                if low < 0 or high > PIXEL_MAX:
                    raise ValueError(f"{what}: integer data are read as pixels in 0..{PIXEL_MAX}. Received: "
                                     + f"dtype={self.dtype} with values in [{low:g}, {high:g}].")
            elif value_range is not None and (low < value_range[0] - 1e-6 or high > value_range[1] + 1e-6):
                raise ValueError(f"{what}: float data must lie in [{value_range[0]:g}, {value_range[1]:g}] for "
                                 + f"sigmoid/BCE models. Received range [{low:.4g}, {high:.4g}] "
                                 + f"(dtype={self.dtype}); scale it first.")
        return self.with_target(tuple(target))

    def with_target(self, target: tuple) -> Stream:
        """A copy of this stream whose batches are reshaped to ``target`` (a channel axis added or dropped)."""
        copy = Stream(self.root, self.kind, self.shards, self.element_shape, self.dtype, self.value_range,
                      self.grayscale, self.notes)
        copy.target_shape = tuple(int(d) for d in target)
        return copy

    # Reading.
    def read_rows(self, index: int, rows: np.ndarray) -> np.ndarray:
        """Examples ``rows`` (sorted) of shard ``index``, stored shape and dtype; only those rows are read."""
        shard = self.shards[index]
        if self.kind == "images":
            return read_image(shard.path, self.element_shape[:2], self.grayscale)[None]
        if shard.path.suffix.lower() == ".npy":
            # A map opened and dropped per call: the pages it touches leave this process's RSS with it.
            mapped = np.load(shard.path, mmap_mode="r", allow_pickle=False)
            out = np.ascontiguousarray(mapped[rows])
            del mapped
            return out
        if self.kind == "tfrecord":
            raise ValueError("TFRecord shards are read through tf.data; use Stream.pipeline().")
        return _npz_rows(shard.path, rows)

    def iter_arrays(self):
        """Every example in canonical order, as arrays of at most a few thousand examples."""
        if self.kind == "images":
            for start in range(0, len(self.shards), _CHUNK):
                yield np.stack([self.read_rows(i, np.zeros(1, int))[0]
                                for i in range(start, min(start + _CHUNK, len(self.shards)))])
        elif self.kind == "tfrecord":
            for batch in self.tf_dataset(_CHUNK, shuffle=False, seed=0, scale=False).as_numpy_iterator():
                yield batch.reshape((-1, *self.element_shape))
        else:
            for i, shard in enumerate(self.shards):
                for start in range(0, shard.count, _CHUNK):
                    yield self.read_rows(i, np.arange(start, min(start + _CHUNK, shard.count)))

    def read_all(self) -> np.ndarray:
        """The whole dataset in memory (for data that fits: evaluation, small folders)."""
        self.verify()
        return np.concatenate(list(self.iter_arrays())).reshape((-1, *self.target_shape))

    def pipeline(self, batch_size: int, shuffle: bool = True, seed: int = 0, buffer_size: int | None = None):
        """Training batches (float32, the model's shape) for the active Keras backend; pass to ``fit`` as is."""
        import keras

        buffer_size = int(buffer_size or min(DEFAULT_BUFFER, len(self)))
        if keras.backend.backend() == "tensorflow" or self.kind == "tfrecord":
            return self.tf_dataset(batch_size, shuffle, seed, buffer_size)
        from zoo.data.pipeline import StreamBatches

        return StreamBatches(self, batch_size, shuffle=shuffle, seed=seed, buffer_size=buffer_size)

    def tf_dataset(self, batch_size: int, shuffle: bool = True, seed: int = 0, buffer_size: int | None = None,
                   scale: bool = True):
        """The ``tf.data`` pipeline (see the module docstring); ``scale=False`` keeps stored values and shape."""
        from zoo.data.pipeline import stream_dataset

        return stream_dataset(self, batch_size, shuffle, seed, int(buffer_size or min(DEFAULT_BUFFER, len(self))),
                              scale)


_NPZ_CACHE: dict = {}


def _npz_rows(path: Path, rows: np.ndarray) -> np.ndarray:
    """Rows of an ``.npz`` shard; the last shard read stays cached (a compressed member cannot be mapped)."""
    key = (str(path), os.path.getmtime(path))
    if key not in _NPZ_CACHE:
        _NPZ_CACHE.clear()
        with np.load(path, allow_pickle=False) as f:
            _NPZ_CACHE[key] = f["x"] if "x" in f else f[f.files[0]]
    return _NPZ_CACHE[key][rows]


def _from_manifest(folder: Path) -> Stream:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        kind, shape, dtype = manifest["storage"], tuple(manifest["shape"]), np.dtype(manifest["dtype"])
        shards = [Shard(folder / s["file"], int(s["count"]), int(s.get("offset", 0)), s["sha256"])
                  for s in manifest["shards"]]
        value_range = (float(manifest["min"]), float(manifest["max"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{folder / MANIFEST} is not a manifest written by `aezoo data pack`: {err!r}") from None
    if kind not in ("npy", "tfrecord"):
        raise ValueError(f"{folder / MANIFEST}: unknown storage {kind!r}; expected 'npy' or 'tfrecord'.")
    return Stream(folder, kind, shards, shape, dtype, value_range)


def _from_shards(folder: Path, files: list[Path]) -> Stream:
    kinds = {p.suffix.lower() for p in files}
    fixed = kinds == {".npy"}
    shards, first = [], None
    for path in files:
        if path.suffix.lower() == ".npy":
            shape, dtype, fortran, offset = npy_header(path)
            fixed = fixed and not fortran
        else:
            (shape, dtype), offset = _npz_header(path), 0
        check_dtype(dtype, path)
        fixed = fixed and dtype not in (np.uint32, np.uint64)  # no tf.io.decode_raw for them
        if len(shape) < 1 or shape[0] == 0:
            raise ValueError(f"Shard {path} holds no examples (array of shape {shape}).")
        if first is None:
            first = (path, shape[1:], dtype)
        elif (shape[1:], dtype) != first[1:]:
            raise ValueError(f"Shards in {folder} differ: {first[0].name} holds examples of shape {first[1]} "
                             + f"{first[2]}, {path.name} of shape {shape[1:]} {dtype}. All shards need one shape "
                             + "and dtype.")
        shards.append(Shard(path, int(shape[0]), offset))
    return Stream(folder, "npy" if fixed else "arrays", shards, first[1], first[2])


def open_stream(path: str | os.PathLike, image_size: tuple[int, int] | None = None,
                color: str | None = None) -> Stream:
    """Open a folder as a :class:`Stream` from its headers alone.

    A folder with ``manifest.json`` is a packed one (``aezoo data pack``); one with
    ``.npy``/``.npz`` files at its top level is a folder of shards (sorted by name,
    examples along the first axis); otherwise its images (searched recursively,
    sorted by path), whose size and colour are inferred from their headers unless
    ``image_size`` / ``color`` (``"gray"`` or ``"rgb"``) are given
    (:func:`zoo.data.images.plan_images`; the stream's ``notes`` say what is converted).

    Raises:
        ValueError: An empty folder, shards of different shapes or dtypes, a
            damaged header or manifest; each named in one line.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"Expected a folder of shards or images. Received: {folder}")
    if (folder / MANIFEST).is_file():
        return _from_manifest(folder)
    shards = sorted(p for p in folder.iterdir() if p.suffix.lower() in SHARD_SUFFIXES and p.is_file())
    images = list_images(folder)
    if shards and images:
        raise ValueError(f"{folder} holds both array shards ({len(shards)} .npy/.npz) and {len(images)} images; "
                         + "keep one kind per folder.")
    if shards:
        return _from_shards(folder, shards)
    if not images:
        raise ValueError(f"No data in folder {folder}: expected .npy/.npz shards, a {MANIFEST} written by "
                         + f"`aezoo data pack`, or images ({', '.join(IMAGE_SUFFIXES)}).")
    plan = plan_images(images, image_size, color, where=folder)
    return Stream(folder, "images", [Shard(p, 1) for p in images], plan.shape, np.uint8,
                  grayscale=plan.grayscale, notes=plan.notes)


def streams_when_training(stream: Stream) -> bool:
    """Whether training reads ``stream`` lazily: shard folders always, image folders above the size limit.

    The limit is ``$AEZOO_STREAM_ABOVE_MB`` MB of decoded pixels (default 1024; 0 streams every folder).
    """
    if stream.kind != "images":
        return True
    limit = float(os.environ.get(ENV_STREAM_ABOVE_MB, DEFAULT_STREAM_ABOVE_MB))
    return stream.nbytes > limit * 1e6


__all__ = ["MANIFEST", "Shard", "Stream", "open_stream", "streams_when_training"]
