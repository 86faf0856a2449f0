"""Vector quantisation: a codebook code head (VQ-VAE; van den Oord, Vinyals & Kavukcuoglu, NeurIPS 2017).

The encoder network ends in a grid of ``D``-vectors (``(h, w, D)`` for images).
:class:`VectorQuantizer` replaces each vector ``z_e`` by its nearest row ``e_k``
of a ``K x D`` codebook (squared Euclidean distance), so an example's code is a
grid of indices in ``0..K-1``; the decoder sees the vectors ``e_k``.

Training, per the paper:

* the straight-through estimator: the decoder's input is
  ``z_e + stop_gradient(e_k - z_e)``, whose value is ``e_k`` and whose gradient
  with respect to ``z_e`` is the gradient with respect to the decoder's input;
* the codebook loss ``mean((stop_gradient(z_e) - e_k)²)`` moves the codes to the
  encoder's outputs, and the commitment loss ``beta * mean((z_e - stop_gradient(e_k))²)``
  keeps the encoder near its codes (means over every element of the grid and batch);
* or, with ``ema=True`` (the paper's appendix), no codebook loss: the codebook
  is the exponential moving average of the vectors assigned to each code,
  ``N_k <- decay N_k + (1 - decay) n_k``, ``m_k <- decay m_k + (1 - decay) sum of
  z_e assigned to k``, ``e_k = m_k / Ñ_k`` with the Laplace-smoothed counts
  ``Ñ_k = (N_k + eps) / (N + K eps) * N``, ``N = sum_k N_k``. The update runs in
  training calls only (as BatchNormalization's moving statistics), through Keras
  variables, so it works the same on TensorFlow, JAX and PyTorch.

The counts ``N_k`` are kept in both modes: they are the empirical prior
``VQVAE.sample`` draws indices from. :func:`codebook_statistics` gives the
codebook's usage on data: perplexity ``exp(-sum_k p_k log p_k)`` of the
indices' frequencies ``p_k``, the fraction of codes used, and the dead codes.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo.models import backend
from zoo.models.heads import CodeHead
from zoo.utils.checks import check_choice, check_non_negative, check_positive_int, check_unit_interval

#: The priors over indices that sampling draws from (independent per position; no learned prior).
PRIORS = ("empirical", "uniform")
#: What :class:`CodebookView` computes: vectors to indices, indices to vectors, or vectors to nearest vectors.
VIEW_MODES = ("indices", "lookup", "vectors")


def nearest_code(vectors, codebook):
    """Index of the nearest codebook row (squared Euclidean distance) of every vector along the last axis.

    Args:
        vectors: Tensor ``(..., D)``.
        codebook: Tensor ``(K, D)``.

    Returns:
        ``int32`` tensor ``(...)`` of indices in ``0..K-1``.
    """
    vectors = ops.convert_to_tensor(vectors)
    codebook = ops.cast(ops.convert_to_tensor(codebook), vectors.dtype)
    flat = ops.reshape(vectors, (-1, ops.shape(codebook)[1]))
    # ||z - e||² = ||z||² - 2 z.e + ||e||²; the first term is the same for every code, so the argmin
    # needs only the other two (one matrix product, no (n, K, D) difference tensor).
    scores = ops.sum(ops.square(codebook), axis=1)[None, :] - 2.0 * ops.matmul(flat, ops.transpose(codebook))
    return ops.reshape(_argmin_rows(scores), ops.shape(vectors)[:-1])


def _argmin_rows(scores):
    """``int32`` argmin along axis 1 (the first index on ties, on every backend).

    Keras' TensorFlow ``argmin`` first maps -0.0 to the smallest negative float with
    ``Bitcast``/``BitwiseAnd`` ops that tf2onnx cannot convert; a distance's sign of zero
    does not matter here, so TensorFlow's own op is used (it exports as ONNX ``ArgMin``,
    LiteRT ``ARG_MIN``).
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.argmin(scores, axis=1, output_type=tf.int32)
    return ops.cast(ops.argmin(scores, axis=1), "int32")


def code_vectors(indices, codebook):
    """The codebook rows of ``indices``: ``(...)`` integers -> ``(..., D)`` vectors."""
    return ops.take(codebook, ops.cast(indices, "int32"), axis=0)


def codebook_statistics(indices: np.ndarray, codebook_size: int) -> dict:
    """Usage of a codebook by ``indices`` (any shape): perplexity, fraction used, dead codes.

    Args:
        indices: Integer code indices in ``0..codebook_size-1``.
        codebook_size: ``K``.

    Returns:
        ``codebook_perplexity`` (``exp`` of the entropy of the index frequencies,
        in nats; ``K`` when every code is used equally, 1 when one code is used),
        ``codebook_usage`` (fraction of the ``K`` codes used at least once),
        ``dead_codes`` (codes never used) and ``codebook_size``.
    """
    counts = np.bincount(np.asarray(indices).ravel(), minlength=codebook_size).astype(np.float64)
    p = counts / counts.sum()
    nonzero = p[p > 0]
    used = int(np.count_nonzero(counts))
    return {"codebook_perplexity": float(np.exp(-np.sum(nonzero * np.log(nonzero)))),
            "codebook_usage": used / codebook_size, "dead_codes": int(codebook_size - used),
            "codebook_size": int(codebook_size)}


@keras.saving.register_keras_serializable(package="aezoo")
class VectorQuantizer(CodeHead):
    """VQ-VAE head: the nearest of ``codebook_size`` learned vectors replaces each encoder output vector.

    The encoder network's last layer is a linear projection to ``latent_dim``
    (= ``D``) channels per position (a 1x1 convolution on a feature map, a
    ``Dense`` on a flat vector). In training the head returns the
    straight-through code and adds the codebook and commitment losses (see the
    module docstring); in inference, and on the deterministic path used by
    ``encode`` and exports, it returns the nearest codebook vectors.

    Args:
        codebook_size: Number ``K`` of codes (>= 2).
        beta: Weight β >= 0 of the commitment loss (0.25 in the paper).
        ema: Update the codebook by exponential moving averages instead of the codebook loss.
        decay: Decay of the moving averages, in [0, 1) (0.99 in the paper).
        epsilon: Laplace smoothing of the counts, > 0.
        restart_threshold: With ``ema`` only (the restart assigns the codebook, which gradients own
            otherwise): codes whose moving count (uses per batch) falls below this restart at a
            random encoder output of the batch (0: never; Dhariwal et al. 2020 use 1). Without
            restarts most codes of a large codebook are never used.
        embedding_dim: ``D``, the codes' size; None takes it from the first input (recorded in the config).
        seed: Seed of the codebook's initial values.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, codebook_size: int = 512, beta: float = 0.25, ema: bool = True, decay: float = 0.99,
                 epsilon: float = 1e-5, restart_threshold: float = 0.0, embedding_dim: int | None = None,
                 seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.codebook_size = check_positive_int("codebook_size", codebook_size)
        if self.codebook_size < 2:
            raise ValueError(f"`codebook_size` must be >= 2. Received: codebook_size={codebook_size!r}")
        self.beta = check_non_negative("beta", beta)
        if not isinstance(ema, (bool, np.bool_)):
            raise ValueError(f"`ema` must be True or False. Received: ema={ema!r}")
        self.ema = bool(ema)
        self.decay = check_unit_interval("decay", decay)
        self.epsilon = check_non_negative("epsilon", epsilon)
        if self.epsilon == 0.0:
            raise ValueError(f"`epsilon` must be > 0. Received: epsilon={epsilon!r}")
        self.restart_threshold = check_non_negative("restart_threshold", restart_threshold)
        if embedding_dim is not None:
            embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.embedding_dim = embedding_dim
        self.seed = seed
        self.seed_generator = backend.ReplicaSeedGenerator(seed)

    def encoder_outputs(self, features, latent_dim: int, activation: str = "linear"):
        if len(features.shape) == 4:
            return keras.layers.Conv2D(latent_dim, 1, activation=activation, name="code")(features)
        return keras.layers.Dense(latent_dim, activation=activation, name="code")(features)

    def build(self, input_shape) -> None:
        dim = int(input_shape[-1])
        if self.embedding_dim is not None and dim != self.embedding_dim:
            raise ValueError(f"The encoder gives {dim}-vectors but this codebook holds "
                             + f"{self.embedding_dim}-vectors. Received: input_shape={tuple(input_shape)}, "
                             + f"embedding_dim={self.embedding_dim}")
        self.embedding_dim = dim
        limit = 1.0 / self.codebook_size
        shape = (self.codebook_size, dim)
        initial = ops.convert_to_numpy(keras.initializers.RandomUniform(-limit, limit, seed=self.seed)(shape))

        def initializer(shape, dtype=None):  # each variable its own buffer (JAX donates them separately)
            return ops.convert_to_tensor(np.array(initial), dtype=dtype)

        self.codebook = self.add_weight(shape=shape, name="codebook", trainable=not self.ema, autocast=False,
                                        initializer=initializer)
        # Moving statistics: every replica computes the same update from globally summed counts.
        self.cluster_size = self.add_weight(shape=(self.codebook_size,), name="cluster_size",
                                            initializer="ones", trainable=False, autocast=False,
                                            aggregation="only_first_replica")
        if self.ema:
            # Counts of 1 and sums equal to the codes: the codebook is m_k / Ñ_k from the start.
            self.embed_sum = self.add_weight(shape=shape, name="embed_sum", initializer=initializer,
                                             trainable=False, autocast=False,
                                             aggregation="only_first_replica")
        self.built = True

    def call(self, inputs, training=None):
        indices = nearest_code(inputs, self.codebook)
        quantized = code_vectors(indices, ops.cast(self.codebook, inputs.dtype))
        loss = self.beta * ops.mean(ops.square(inputs - ops.stop_gradient(quantized)))
        if not self.ema:
            loss = loss + ops.mean(ops.square(ops.stop_gradient(inputs) - quantized))
        self.add_loss(loss)
        if not training:
            return quantized
        self._update_statistics(inputs, indices)
        return inputs + ops.stop_gradient(quantized - inputs)

    def _update_statistics(self, inputs, indices) -> None:
        """Moving counts (both modes) and, with ``ema``, the moving sums, the codebook, and restarts."""
        decay = self.decay
        flat = ops.stop_gradient(ops.reshape(ops.cast(inputs, "float32"), (-1, self.embedding_dim)))
        onehot = ops.one_hot(ops.reshape(indices, (-1,)), self.codebook_size, dtype="float32")
        counts = backend.cross_replica_sum(ops.sum(onehot, axis=0))
        cluster_size = decay * self.cluster_size + (1.0 - decay) * counts
        if not self.ema:
            self.cluster_size.assign(cluster_size)
            return
        sums = backend.cross_replica_sum(ops.matmul(ops.transpose(onehot), flat))
        embed_sum = decay * self.embed_sum + (1.0 - decay) * sums
        codebook = embed_sum / ops.expand_dims(self.smoothed_counts(cluster_size), 1)
        if self.restart_threshold > 0:
            # Codes used less than `restart_threshold` times per batch on average restart at random
            # vectors of this batch (with a count of 1), where data is, instead of staying dead.
            dead = cluster_size < self.restart_threshold
            n = ops.cast(ops.shape(flat)[0], "float32")
            draw = keras.random.uniform((self.codebook_size,), seed=self.seed_generator)
            fresh = ops.take(flat, ops.cast(ops.minimum(ops.floor(draw * n), n - 1.0), "int32"), axis=0)
            codebook = ops.where(ops.expand_dims(dead, 1), fresh, codebook)
            embed_sum = ops.where(ops.expand_dims(dead, 1), fresh, embed_sum)
            cluster_size = ops.where(dead, 1.0, cluster_size)
        self.cluster_size.assign(cluster_size)
        self.embed_sum.assign(embed_sum)
        self.codebook.assign(codebook)

    def smoothed_counts(self, cluster_size):
        """Laplace-smoothed counts ``(N_k + eps) / (N + K eps) * N``: never zero, same total ``N``."""
        total = ops.sum(cluster_size)
        return (cluster_size + self.epsilon) / (total + self.codebook_size * self.epsilon) * total

    def deterministic(self, inputs):
        inputs = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return CodebookView(self, "vectors", name="quantize")(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    # ---- what the head reports -------------------------------------------------
    def indices_of(self, vectors, batch_size: int = 65536) -> np.ndarray:
        """Nearest-code indices of ``vectors`` ``(..., D)`` as numpy ``int32`` (computed in chunks)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        flat = vectors.reshape(-1, vectors.shape[-1])
        chunks = [ops.convert_to_numpy(nearest_code(flat[i:i + batch_size], self.codebook))
                  for i in range(0, len(flat), batch_size)]
        return np.concatenate(chunks).astype(np.int32).reshape(vectors.shape[:-1])

    def prior(self) -> np.ndarray:
        """The empirical prior over codes: the moving counts ``N_k`` normalised to sum to 1 (float64)."""
        counts = np.maximum(np.asarray(ops.convert_to_numpy(self.cluster_size), dtype=np.float64), 0.0)
        total = counts.sum()
        return counts / total if total > 0 else np.full(self.codebook_size, 1.0 / self.codebook_size)

    def prior_indices(self, n: int, grid_shape: tuple, rng: np.random.Generator,
                      prior: str = "empirical") -> np.ndarray:
        """``int32`` indices ``(n, *grid_shape)``, independent per position, from :meth:`prior` or uniform.

        Args:
            n: Number of examples.
            grid_shape: Per-example shape of the grid of indices.
            rng: numpy's generator (the same draws on every backend).
            prior: ``"empirical"`` (:meth:`prior`) or ``"uniform"`` (1/K each).
        """
        p = self.prior() if check_choice("prior", prior, PRIORS) == "empirical" else None
        return rng.choice(self.codebook_size, size=(n, *grid_shape), p=p).astype(np.int32)

    def prior_codes(self, n: int, code_shape: tuple, rng: np.random.Generator) -> np.ndarray:
        """Code vectors ``(n, *code_shape)`` of indices drawn from the empirical prior (:meth:`prior_indices`)."""
        codebook = np.asarray(ops.convert_to_numpy(self.codebook), dtype=np.float32)
        return codebook[self.prior_indices(n, tuple(code_shape[:-1]), rng)]

    def evaluation_metrics(self, model, x, codes, *, seed=0, batch_size=512) -> dict:
        """The codebook's usage by the test set's codes (:func:`codebook_statistics`)."""
        return codebook_statistics(self.indices_of(codes), self.codebook_size)

    def summarize(self, card_metrics: dict) -> str:
        if "codebook_perplexity" not in card_metrics:
            return ""
        k = card_metrics.get("codebook_size", self.codebook_size)
        return (f"codebook perplexity {card_metrics['codebook_perplexity']:.1f}/{k}, "
                + f"{card_metrics.get('dead_codes', 0)} dead")

    def get_config(self) -> dict:
        return {**super().get_config(), "codebook_size": self.codebook_size, "beta": self.beta,
                "ema": self.ema, "decay": self.decay, "epsilon": self.epsilon,
                "restart_threshold": self.restart_threshold, "embedding_dim": self.embedding_dim,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="aezoo")
class CodebookView(keras.layers.Layer):
    """A deterministic use of a :class:`VectorQuantizer`'s codebook, sharing its variables.

    ``mode="indices"`` maps vectors ``(..., D)`` to their nearest codes'
    indices ``(...)`` (``int32``), ``"lookup"`` maps indices to the codes'
    vectors, and ``"vectors"`` maps vectors to their nearest codes' vectors (the
    quantised code). No loss, no update: these are the graphs ``encode``,
    ``decode_indices`` and exports use.

    Args:
        quantizer: The head whose codebook is read.
        mode: One of :data:`VIEW_MODES`.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, quantizer: VectorQuantizer, mode: str = "vectors", **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(quantizer, dict):  # from a config
            quantizer = keras.saving.deserialize_keras_object(quantizer)
        if not isinstance(quantizer, VectorQuantizer):
            raise ValueError(f"`quantizer` must be a VectorQuantizer. Received: {type(quantizer).__name__}")
        self.quantizer = quantizer
        self.mode = check_choice("mode", mode, VIEW_MODES)

    def build(self, input_shape) -> None:
        if not self.quantizer.built:
            if self.mode == "lookup" and self.quantizer.embedding_dim is None:
                raise ValueError("A lookup view needs a built quantizer or one with `embedding_dim` set.")
            dim = self.quantizer.embedding_dim if self.mode == "lookup" else input_shape[-1]
            self.quantizer.build((None, dim))
        self.built = True

    def call(self, inputs):
        codebook = self.quantizer.codebook
        if self.mode == "lookup":
            return code_vectors(inputs, codebook)
        indices = nearest_code(inputs, codebook)
        return indices if self.mode == "indices" else code_vectors(indices, ops.cast(codebook, inputs.dtype))

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if self.mode == "indices":
            return keras.KerasTensor(shape[:-1], dtype="int32")
        if self.mode == "lookup":
            return keras.KerasTensor((*shape, self.quantizer.embedding_dim), dtype="float32")
        return keras.KerasTensor(shape, dtype=inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "quantizer": keras.saving.serialize_keras_object(self.quantizer),
                "mode": self.mode}
