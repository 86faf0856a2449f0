"""``aezoo bench infer --backend ...``: inference on several Keras backends and the PyTorch peers, interleaved.

Each backend runs in its own worker process with its own compiled calls
(``benchmarks.backends.INFERENCE_RUNTIMES``: ``tf.function`` and XLA under
TensorFlow, a jitted ``stateless_call`` under JAX, eager and ``torch.compile``
under PyTorch). The export runtimes (SavedModel, onnxruntime, LiteRT) run in
the TensorFlow worker only, since TensorFlow makes them; other backends skip
them. The peers get the Keras model's weights, so every row computes the same
function.
"""

from __future__ import annotations

import argparse

from benchmarks.backends import INFERENCE_RUNTIMES
from benchmarks.common import save
from benchmarks.runs import PEER_BACKEND, backend_run, interleave, peer_specs


def backend_runtimes(backend: str, requested) -> list[str]:
    """Runtimes ``backend`` times: its own compiled calls, plus the requested exports under TensorFlow."""
    if backend != "tensorflow":
        return list(INFERENCE_RUNTIMES[backend])
    return [r for r in requested if r != "keras_predict"] or list(INFERENCE_RUNTIMES["tensorflow"])


def run_backends(args: argparse.Namespace) -> int:
    """Time every model, part, batch size and runtime on each ``--backend`` and the peers; write the rows."""
    peers = args.peers is not False
    rows = []
    with backend_run(args, PEER_BACKEND if peers else None) as (workers, names, peaks, bandwidth, probe):
        for model in args.models:
            for part in args.parts:
                for batch in args.batch_sizes:
                    base = dict(model=model, part=part, batch_size=batch)
                    specs = {b: [dict(base, kind="keras_infer", runtime=r) for r in backend_runtimes(b, args.runtimes)]
                             if b in names else [] for b in workers}
                    if peers and part != "decoder":
                        specs[PEER_BACKEND] += peer_specs([model], "peer_infer", **base)
                    rows += interleave(workers, specs, "inference", args.rounds, peaks, bandwidth,
                                       args.min_seconds, printed=len(rows))
    device = rows[0]["device"] if rows else args.device
    return save(probe + rows, args.out, f"inference throughput ({device}; {', '.join(names)} and PyTorch peers)")
