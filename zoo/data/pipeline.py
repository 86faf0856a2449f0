"""Input pipelines: a seeded `keras.utils.PyDataset` for arrays and streams (JAX, PyTorch), and tf.data for streams."""

from __future__ import annotations

import keras
import numpy as np

from zoo.data.images import scale_pixels


class ArrayBatches(keras.utils.PyDataset):
    """Seeded, reshuffled-every-epoch float32 batches from an in-memory (``uint8`` or float) array.

    The input pipeline of backends without ``tf.data``: a ``keras.utils.PyDataset``.

    Args:
        x: Examples, ``uint8`` (scaled by 1/255 per batch) or float32 in [0, 1].
        batch_size: Examples per batch (the last one may be smaller).
        shuffle: Reshuffle the order every epoch.
        seed: Seeds the order: epoch ``e`` uses ``default_rng([seed, e])``.
    """

    def __init__(self, x: np.ndarray, batch_size: int, shuffle: bool = True, seed: int = 0) -> None:
        super().__init__()
        self.x, self.batch_size, self.shuffle, self.seed = x, int(batch_size), shuffle, seed
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.x))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index: int) -> np.ndarray:
        rows = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        batch = self.x[rows]
        return scale_pixels(batch) if batch.dtype == np.uint8 else batch

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def _scaled(batch: np.ndarray, target: tuple) -> np.ndarray:
    return scale_pixels(batch).reshape((-1, *target))


class StreamBatches(keras.utils.PyDataset):
    """Seeded float32 batches read lazily from a :class:`zoo.data.streaming.Stream` (JAX and PyTorch).

    Each epoch visits the files in a new seeded order and shuffles the examples within
    consecutive windows of ``buffer_size`` (the bounded buffer of ``tf.data``'s shuffle);
    a batch reads only its own rows: shards are memory-mapped for the call, images decoded.

    Args:
        stream: The data on disk.
        batch_size: Examples per batch (the last one may be smaller).
        shuffle: Reshuffle every epoch; False reads in the stream's canonical order.
        seed: Seeds the order: epoch ``e`` uses ``default_rng([seed, e, ...])``.
        buffer_size: Examples per shuffle window.
    """

    def __init__(self, stream, batch_size: int, shuffle: bool = True, seed: int = 0,
                 buffer_size: int = 10_000) -> None:
        super().__init__()
        self.stream, self.batch_size, self.shuffle, self.seed = stream, int(batch_size), shuffle, seed
        self.buffer_size = max(1, int(buffer_size))
        self.epoch = 0
        self._start_epoch()

    def _start_epoch(self) -> None:
        counts = self.stream.counts
        self.files = (np.random.default_rng([self.seed, self.epoch]).permutation(len(counts)) if self.shuffle
                      else np.arange(len(counts)))
        self.ends = np.cumsum(counts[self.files])
        self.windows: dict[int, np.ndarray] = {}

    def _window(self, w: int) -> np.ndarray:
        if w not in self.windows:
            size = min(self.buffer_size, len(self.stream) - w * self.buffer_size)
            self.windows = {w: np.random.default_rng([self.seed, self.epoch, w]).permutation(size)}
        return self.windows[w]

    def __len__(self) -> int:
        return -(-len(self.stream) // self.batch_size)

    def positions(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(file, row)`` of every example of batch ``index`` this epoch."""
        p = np.arange(index * self.batch_size, min(len(self.stream), (index + 1) * self.batch_size))
        if self.shuffle:
            w = p // self.buffer_size
            p = np.concatenate([w0 * self.buffer_size + self._window(w0)[p[w == w0] % self.buffer_size]
                                for w0 in np.unique(w)])
        k = np.searchsorted(self.ends, p, side="right")
        return self.files[k], p - (self.ends[k] - self.stream.counts[self.files[k]])

    def __getitem__(self, index: int) -> np.ndarray:
        files, rows = self.positions(index)
        parts = [self.stream.read_rows(int(f), np.sort(rows[files == f])) for f in np.unique(files)]
        return _scaled(np.concatenate(parts), self.stream.target_shape)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._start_epoch()


def stream_dataset(stream, batch_size: int, shuffle: bool, seed: int, buffer_size: int, scale: bool = True):
    """The ``tf.data`` pipeline of a :class:`zoo.data.streaming.Stream` (its module docstring says how it reads).

    Auto-shard policy: FILE for ``.npy`` and TFRecord shards (read by file-reader datasets),
    DATA for ``.npz`` shards and images; the order is seeded, so every worker drops the same
    complement and together they see each example once.
    """
    import tensorflow as tf

    from zoo.data.images import read_image

    shape, dtype, kind = stream.element_shape, stream.dtype, stream.kind
    tf_dtype = tf.as_dtype(dtype.newbyteorder("=").type)
    little = dtype.byteorder != ">"
    paths = [str(s.path) for s in stream.shards]
    autotune = tf.data.AUTOTUNE
    if kind == "images":
        size, gray = shape[:2], stream.grayscale

        def decode(path):
            return tf.ensure_shape(tf.numpy_function(lambda p: read_image(p.decode(), size, gray), [path], tf.uint8,
                                                     stateful=False), shape)

        ds = tf.data.Dataset.from_tensor_slices(paths)
        if shuffle:
            ds = ds.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(decode, num_parallel_calls=autotune, deterministic=True)
    else:
        files = tf.data.Dataset.from_tensor_slices((paths, tf.constant([s.offset for s in stream.shards], tf.int64)))
        if shuffle:
            files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        if kind == "npy":
            record = int(np.prod(shape)) * dtype.itemsize

            def reader(path, offset):
                return tf.data.FixedLengthRecordDataset(path, record, header_bytes=offset)
        elif kind == "tfrecord":
            def reader(path, offset):
                return tf.data.TFRecordDataset(path)
        else:
            def rows(path):
                index = paths.index(path.decode())
                yield from stream.read_rows(index, np.arange(stream.shards[index].count))

            def reader(path, offset):
                return tf.data.Dataset.from_generator(rows, args=(path,),
                                                      output_signature=tf.TensorSpec(shape, tf_dtype))
        # Unshuffled, files are read one after another: the canonical order.
        ds = files.interleave(reader, cycle_length=min(4, len(paths)) if shuffle else 1, block_length=1,
                              num_parallel_calls=autotune, deterministic=True)
        if shuffle:
            ds = ds.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if kind == "tfrecord":
        ds = ds.map(lambda b: tf.io.parse_example(b, {"x": tf.io.FixedLenFeature([], tf.string)})["x"])
    if kind in ("npy", "tfrecord"):
        ds = ds.map(lambda b: tf.reshape(tf.io.decode_raw(b, tf_dtype, little_endian=little), (-1, *shape)),
                    num_parallel_calls=autotune)
    if scale:
        target = stream.target_shape
        ds = ds.map(lambda b: tf.reshape(scale_pixels(b), (-1, *target)),
                    num_parallel_calls=autotune)
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.FILE if kind in ("npy", "tfrecord") else policy.DATA
    # A known length gives Keras its progress bar and epoch end; tf.data's auto-shard rewrite drops the assertion.
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-len(stream) // batch_size)))
    return ds.prefetch(autotune).with_options(options)


def make_pipeline(x, batch_size: int = 256, shuffle: bool = True, seed: int = 0,
                  cache: bool = True, value_range: tuple[float, float] | None = (0.0, 1.0)):
    """Training batches, float32 in [0, 1], for the active Keras backend.

    ``tf.data`` under TensorFlow (cached, seeded shuffle, prefetched), a
    :class:`zoo.data.pipeline.ArrayBatches` ``PyDataset`` under JAX and PyTorch. Either way
    ``uint8`` images stay ``uint8`` in memory (a quarter of the bytes) until a
    batch is scaled, and the order is reshuffled every epoch from ``seed``.
    Other data go through the input contract first (:func:`zoo.utils.inputs.as_model_input`:
    integer pixels scaled, floats checked against ``value_range``, None for any finite value).
    A :class:`zoo.data.streaming.Stream` (checked by ``Stream.for_model``) gives its lazy pipeline
    (:meth:`zoo.data.streaming.Stream.pipeline`). Pass the result to ``fit`` without ``batch_size`` or ``shuffle``.
    """
    import keras

    if hasattr(x, "pipeline"):
        return x.pipeline(batch_size, shuffle=shuffle, seed=seed)

    if x.dtype != np.uint8:
        from zoo.utils.inputs import as_model_input

        x = as_model_input(x, None, what="data", value_range=value_range)
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(x, batch_size, shuffle=shuffle, seed=seed)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(len(x), 60_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if x.dtype == np.uint8:
        ds = ds.map(scale_pixels, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
