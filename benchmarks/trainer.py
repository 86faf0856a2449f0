"""Training configurations for the benchmarks: a trainer that runs one epoch per call, and the images it trains on.

A :class:`Trainer` is one configuration (model, batch size, precision, XLA,
steps per execution, replicas), compiled and warmed up once, through aezoo's
default training path or, as the baseline, plain ``model.fit`` on a numpy
array. ``benchmarks.train_throughput`` and the workers' training cells
(``benchmarks.cells``) time its epochs.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import numpy as np


class Trainer:
    """One configuration, compiled and warmed up, that trains one more epoch per :meth:`epoch` call."""

    def __init__(self, model_name: str, model_kwargs: dict, x_u8: np.ndarray, batch_size: int, *, baseline: bool,
                 precision: str = "float32", xla: bool | None = None, steps_per_execution: int | None = None,
                 seed: int = 0, device: str = "cpu", replicas: int = 1):
        import keras

        import zoo
        from zoo.data import datasets as zdata
        from zoo.training import distribute
        from zoo.training.run import compile_options

        self.batch_size, self.precision, self.baseline, self.epochs_done = batch_size, precision, baseline, 0
        self.fit = None
        self.policy = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[precision]
        dist = distribute.setup("mirrored", replicas=replicas) if replicas > 1 else distribute.Distribution()
        dist.check_batch_size(batch_size)
        with self._policy(), dist.scope():
            keras.utils.set_random_seed(seed)
            self.model = zoo.create_model(model_name, **model_kwargs)
            if baseline:
                self.options = {}
                self.model.compile(keras.optimizers.Adam(1e-3))
                self.fit_args = {"x": zdata.to_unit_range(x_u8), "batch_size": batch_size}
            else:
                self.options = compile_options(self.model)
                if xla is not None:
                    self.options["jit_compile"] = xla
                if steps_per_execution is not None:
                    self.options["steps_per_execution"] = steps_per_execution
                if keras.backend.backend() == "torch":
                    self.options["steps_per_execution"] = 1  # Keras' PyTorch trainer refuses more
                self.model.compile(keras.optimizers.Adam(1e-3), **self.options)
                self.fit_args = self._default_data(x_u8, device, seed)
        self.fit = self.fit or self.model.fit
        self.steps = -(-len(x_u8) // batch_size)
        self.warmup = self.epoch()

    def _default_data(self, x_u8: np.ndarray, device: str, seed: int) -> dict:
        """``fit`` arguments of aezoo's default path: cached uint8 ``tf.data`` under TensorFlow; elsewhere
        float32 data resident on the device, batches gathered there in a new order every epoch."""
        import keras

        from benchmarks.backends import resident_batches, to_device
        from zoo.data import datasets as zdata
        from zoo.data.pipeline import make_pipeline

        backend = keras.backend.backend()
        if backend == "tensorflow":
            return {"x": make_pipeline(x_u8, self.batch_size, shuffle=True, seed=seed), "shuffle": False}
        x = zdata.to_unit_range(x_u8)
        self.model._check_data(x, "fit")  # here, on numpy: zoo's check reads numpy dtypes, not device tensors
        self.fit = functools.partial(keras.Model.fit, self.model)
        return {"x": resident_batches(to_device(x, backend, device), self.batch_size, seed)}

    @contextlib.contextmanager
    def _policy(self) -> Iterator[None]:
        import keras

        keras.mixed_precision.set_global_policy(self.policy)
        try:
            yield
        finally:
            keras.mixed_precision.set_global_policy("float32")

    def epoch(self) -> float:
        """Train one epoch; return its wall time in seconds (``zoo.utils.timing.EpochTimer``, as ``zoo.training.run``)."""
        from zoo.utils.timing import EpochTimer

        timer = EpochTimer()
        with self._policy():
            self.fit(**self.fit_args, initial_epoch=self.epochs_done, epochs=self.epochs_done + 1,
                           callbacks=[timer], verbose=0)
        self.epochs_done += 1
        return timer.times[0]


def load_images(dataset: str, samples: int | None = None, data_dir: str | None = None) -> np.ndarray:
    """Training images (uint8) of a known dataset's train split or of ``sample:NAME`` (a test-split sample), the first ``samples``."""
    from zoo.data import datasets as zdata

    spec = zdata.parse_data_spec(dataset)
    if spec.kind not in ("dataset", "sample"):  # benchmark rows name their data: no user files
        raise ValueError(f"The training benchmark takes a known dataset or sample:NAME. Received: {dataset!r}")
    x_u8 = spec.load(default="train", data_dir=data_dir).x
    return x_u8[:samples] if samples else x_u8
