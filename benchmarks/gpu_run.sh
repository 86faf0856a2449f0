#!/usr/bin/env bash
# The GPU suite on a machine with JAX, PyTorch and numpy but no Keras and no TensorFlow (the lent H200).
#
# Run from the repository root, with Keras' wheels carried in a folder (default .whl/):
#   bash benchmarks/gpu_run.sh [extra suite options...]
# It installs the wheels into a private site folder, records the machine, runs
#   python -m benchmarks.suite --device gpu --out benchmarks/results/<device-tag>/
# (with the Tiny AutoEncoder sweep, tae.csv/json/png, whose --tae-budget-s comes out of --budget-s;
# `bash benchmarks/gpu_run.sh --skip train inference --budget-s 420 --tae-budget-s 420` runs it alone)
# and, when $OUT is set (the device tool's return folder), packs the results there as
# one archive plus the log (the tool returns at most 8 files). docs/benchmarks.md has the
# whole procedure, from downloading the wheels to committing the results.
set -euo pipefail

WHEELS=${AEZOO_WHEELS:-.whl}
SITE=${AEZOO_SITE:-/tmp/aezoo-site}
TAG=${AEZOO_DEVICE_TAG:-$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 \
      | tr '[:upper:]' '[:lower:]' | sed 's/nvidia //; s/[^a-z0-9]\+/_/g; s/_$//')}
TAG=${TAG:-gpu}
RESULTS=benchmarks/results/$TAG

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_BACKEND=jax
mkdir -p "$RESULTS"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
python3 -c "import sys, keras, jax, torch; print('python', sys.version.split()[0], '| keras', keras.__version__, \
'| jax', jax.__version__, jax.devices(), '| torch', torch.__version__, torch.cuda.get_device_name(0))"

status=0
python3 -m benchmarks.suite --device gpu --out "$RESULTS" "$@" 2>&1 | tee "$RESULTS/suite.log" || status=$?
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/results.tgz" -C benchmarks/results "$TAG"
  cp "$RESULTS/suite.log" "$OUT/"
fi
exit "$status"
