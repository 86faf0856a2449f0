"""Parity of the Keras Tiny AutoEncoders with the PyTorch reference, on real photographs, per backend.

    python -m benchmarks.tae_parity --checkpoints /tmp/taesd [--original /tmp/orig/taesd.py]
    python -m benchmarks.tae_parity --checkpoints /tmp/taesd --write-reference tests/data/tae_reference.npz

The photographs are scikit-learn's ``china.jpg`` and ``flower.jpg`` (CC BY 2.0, shipped
offline with scikit-learn). For every Keras backend (one subprocess each), precision
(float64, float32) and part (TAEF2 encoder and decoder, TAESana encoder) it measures the
largest absolute difference from ``benchmarks.peers.tae_torch`` run in the same
precision from the same float16 weights, at 256x256 and 256x384; and the round-trip PSNR
of TAEF2 in Keras and in the reference (float32). The decoders decode the reference's
float64 latents of the same photographs. With ``--original PATH/taesd.py`` the upstream
module (github madebyollin/taesd, imported from where you keep it, never copied here)
runs too, and its difference from our reference is reported (0 when the reference is exact).

Keras weights come from the pretrained entries (``tae.flux2``, ``tae_f32.sana``) when the
zoo has them, else from ``--checkpoints`` through ``zoo.pretrained.convert.load_state_dict``.
``--write-reference`` stores the reference outputs on small crops for
``tests/test_tae_parity.py``. Results: ``benchmarks/results/tae_parity.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.results_io import RESULTS, write_json
from zoo.utils.integrity import sha256

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("china.jpg", "flower.jpg")
#: Model key -> (checkpoint variant, pretrained entry, parts, builder arguments).
MODELS = {
    "flux2": ("taef2", "tae.flux2", ("encoder", "decoder"), {"model": "tae", "latent_dim": 32, "midblock_gn": True}),
    "sana": ("taesana", "tae_f32.sana", ("encoder",), {"model": "tae_f32", "latent_dim": 32}),
}
LIVE_SIZES = ((256, 256), (256, 384))
#: Stored crops for the tests: (key, photo, size) of 1/4-scale photographs.
STORED_CROPS = (("64x64", "china.jpg", (64, 64)), ("64x96", "flower.jpg", (64, 96)))
STORED_PARTS = {"64x64": ("flux2/encoder", "flux2/decoder"),
                "64x96": ("flux2/encoder", "flux2/decoder", "sana/encoder")}
#: Acceptance: float64 on TensorFlow at rounding level, float32 within 1e-4, PSNR within 0.01 dB.
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
PSNR_TOLERANCE_DB = 0.01
BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = ("float64", "float32")


def photo(name: str, scale: int = 1) -> np.ndarray:
    """A scikit-learn sample photograph as uint8 (427, 640, 3), optionally shrunk by ``scale`` (block mean, rounded)."""
    from zoo.data.photos import PHOTOS, sample_photographs

    image = sample_photographs()[PHOTOS.index(name)]
    if scale > 1:
        h, w = image.shape[0] // scale * scale, image.shape[1] // scale * scale
        blocks = image[:h, :w].reshape(h // scale, scale, w // scale, scale, 3).astype(np.float64)
        image = np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)
    return image


def centre_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The centred ``size`` (height, width) crop of an (H, W, C) image."""
    h, w = size
    top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    return image[top:top + h, left:left + w]


def live_images(size: tuple[int, int]) -> np.ndarray:
    """Both photographs' centred crops as uint8 (2, H, W, 3)."""
    return np.stack([centre_crop(photo(name), size) for name in PHOTOS])


def stored_images() -> dict[str, np.ndarray]:
    """The stored crops (1, h, w, 3) uint8 by size key, from 1/4-scale photographs."""
    return {key: centre_crop(photo(name, 4), size)[None] for key, name, size in STORED_CROPS}


# --- the PyTorch side -------------------------------------------------------------------------------------------


def torch_parts(checkpoints: str | os.PathLike, dtype: str, original: str | None = None) -> dict:
    """``{"flux2/encoder": module, ...}`` loaded from ``checkpoints`` in ``dtype``: our reference, or upstream's module."""
    import torch

    from benchmarks.peers import tae_torch

    torch_dtype = getattr(torch, dtype)
    upstream = _import_original(original) if original else None
    parts = {}
    for key, (variant, _entry, names, _args) in MODELS.items():
        latent, down, gn = tae_torch.VARIANTS[variant]
        for part in names:
            if upstream is None:
                module = (tae_torch.tiny_encoder if part == "encoder" else tae_torch.tiny_decoder)(latent, down, gn)
            elif down == 32:
                module = upstream.F32Encoder(latent) if part == "encoder" else upstream.F32Decoder(latent)
            else:
                module = (upstream.Encoder if part == "encoder" else upstream.Decoder)(latent, use_midblock_gn=gn)
            parts[f"{key}/{part}"] = tae_torch.load_part(module, str(Path(checkpoints) / f"{variant}_{part}.pth"),
                                                         torch_dtype)
    return parts


def _import_original(path: str):
    spec = importlib.util.spec_from_file_location("taesd_original", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"--original: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_torch(parts: dict, images: np.ndarray, latents: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """Outputs of every part in ``dtype``: encoders on ``images`` (uint8), decoders on ``latents[model]``."""
    from benchmarks.peers.tae_torch import reference_decode, reference_encode

    x = images.astype(dtype) / 255.0
    out = {}
    for key, module in parts.items():
        model, part = key.split("/")
        if part == "encoder":
            out[key] = reference_encode(module, x).numpy()
        else:
            out[key] = reference_decode(module, latents[model].astype(dtype)).numpy()
    return out


def torch_reference(checkpoints, images: np.ndarray, original: str | None = None) -> dict[str, dict]:
    """The reference's outputs by precision (decoders decode the float64 latents) and its float32 round trip.

    Returns:
        ``{"float64": {part: output}, "float32": {part: output}, "roundtrip": {model: images}}``.
    """
    parts64 = torch_parts(checkpoints, "float64", original)
    f64 = run_torch({k: v for k, v in parts64.items() if k.endswith("encoder")}, images, {}, "float64")
    latents = {k.split("/")[0]: v for k, v in f64.items()}
    f64.update(run_torch({k: v for k, v in parts64.items() if k.endswith("decoder")}, images, latents, "float64"))
    parts32 = torch_parts(checkpoints, "float32", original)
    f32 = run_torch(parts32, images, latents, "float32")
    own = {k.split("/")[0]: v for k, v in f32.items() if k.endswith("encoder")}
    roundtrip = {k.split("/")[0]: v for k, v in run_torch(
        {k: v for k, v in parts32.items() if k.endswith("decoder")}, images, own, "float32").items()}
    return {"float64": f64, "float32": f32, "roundtrip": roundtrip}


# --- the Keras side (runs in a subprocess per backend) ------------------------------------------------------------


def keras_model(key: str, dtype: str, checkpoints: str | os.PathLike | None = None):
    """The Keras model of ``key`` ("flux2" or "sana") in ``dtype`` with the real weights.

    From the pretrained entry when the zoo has it (weights cast to ``dtype``), else
    converted from ``checkpoints`` (a folder with ``taef2_encoder.pth`` and the like).

    Returns:
        ``(model, source)``: a :class:`zoo.families.tae.TinyAutoencoder` and where its weights came from.
    """
    import zoo
    from zoo.pretrained.convert import load_state_dict, read_state_dict

    variant, entry, parts, args = MODELS[key]
    args = dict(args)
    if entry in zoo.list_pretrained() and dtype == "float32":
        return zoo.load_pretrained(entry), f"pretrained entry {entry}"
    model = zoo.create_model(args.pop("model"), dtype=dtype, **args)
    networks = {"encoder": model.encoder_network, "decoder": model.decoder}
    if entry in zoo.list_pretrained():
        shipped = zoo.load_pretrained(entry)
        source = {"encoder": shipped.encoder_network, "decoder": shipped.decoder}
        for part in parts:
            networks[part].set_weights([w.astype(dtype) for w in source[part].get_weights()])
        return model, f"pretrained entry {entry}"
    if checkpoints is None:
        raise FileNotFoundError(f"The zoo has no entry {entry} yet: pass --checkpoints DIR with {variant}_*.pth")
    for part in parts:
        load_state_dict(networks[part], read_state_dict(Path(checkpoints) / f"{variant}_{part}.pth"))
    return model, f"converted from {checkpoints}"


def apply(network, x: np.ndarray, dtype: str) -> np.ndarray:
    """``network(x)`` in ``dtype`` as numpy; a direct call, since ``predict`` casts float64 inputs to float32 (floatx)."""
    import keras

    return keras.ops.convert_to_numpy(network(keras.ops.convert_to_tensor(x, dtype), training=False))


def run_keras(inputs: dict[str, np.ndarray], precisions: tuple[str, ...], checkpoints=None) -> dict[str, np.ndarray]:
    """Keras outputs for ``inputs`` keyed ``"{model}/{part}/{size}"`` (or ``.../roundtrip/...``); keys gain ``/{precision}``.

    Encoder and round-trip inputs are uint8 images, decoder inputs float64 latents.
    """
    out: dict[str, np.ndarray] = {}
    out_sources = {}
    for precision in precisions:
        for key in MODELS:
            wanted = {k: v for k, v in inputs.items() if k.startswith(f"{key}/")}
            if not wanted:
                continue
            model, out_sources[key] = keras_model(key, precision, checkpoints)
            for name, value in wanted.items():
                part = name.split("/")[1]
                if part == "decoder":
                    result = apply(model.decoder, value, precision)
                else:
                    result = apply(model.encoder_network, value.astype(precision) / 255.0, precision)
                    if part == "roundtrip":
                        result = apply(model.decoder, result, precision)
                out[f"{name}/{precision}"] = result
    out["sources"] = np.array(json.dumps(out_sources))
    return out


def keras_worker(inputs_path: str, output_path: str, precisions: str, checkpoints: str | None) -> int:
    """Subprocess entry: read inputs (npz), run :func:`run_keras`, write outputs (npz) and the backend."""
    import keras

    with np.load(inputs_path) as data:
        inputs = {k: data[k] for k in data.files}
    out = run_keras(inputs, tuple(precisions.split(",")), checkpoints)
    out["backend"] = np.array(keras.backend.backend())
    out["dtype_check"] = np.array(str(keras.ops.convert_to_numpy(keras.ops.ones((1,), "float64")).dtype))
    np.savez(output_path, **out)
    return 0


def run_backend(backend: str, inputs: dict[str, np.ndarray], precisions=PRECISIONS, checkpoints=None,
                timeout: float = 1800) -> dict[str, np.ndarray]:
    """:func:`run_keras` under ``backend`` in its own process (JAX with 64-bit floats enabled).

    Raises:
        RuntimeError: The subprocess failed; its last lines of stderr are in the message.
    """
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "inputs.npz", Path(tmp) / "outputs.npz"
        np.savez(src, **inputs)
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        if backend == "jax":
            env["JAX_ENABLE_X64"] = "1"
        command = [sys.executable, "-m", "benchmarks.tae_parity", "worker", str(src), str(dst), ",".join(precisions)]
        if checkpoints:
            command.append(str(checkpoints))
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{backend} worker failed: {proc.stderr[-2000:]}")
        with np.load(dst) as data:
            return {k: data[k] for k in data.files}


# --- measuring, tables, files -------------------------------------------------------------------------------------


def psnr(images: np.ndarray, reference_uint8: np.ndarray) -> np.ndarray:
    """PSNR in dB of each image in [0, 1] against uint8 originals (peak 1)."""
    error = np.asarray(images, np.float64) - reference_uint8.astype(np.float64) / 255.0
    return 10 * np.log10(1.0 / np.mean(error ** 2, axis=(1, 2, 3)))


def _tag(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def measure(checkpoints, backends=BACKENDS, sizes=LIVE_SIZES, original: str | None = None,
            precisions=PRECISIONS) -> dict:
    """Every backend x precision x part x size against the reference, the PSNR table, and the upstream check.

    Returns:
        ``{"rows": [...], "psnr": [...], "original": [...]}`` (see the module docstring).
    """
    references, inputs, images = {}, {}, {}
    upstream_rows = []
    for size in sizes:
        tag = _tag(size)
        images[tag] = live_images(size)
        ref = references[tag] = torch_reference(checkpoints, images[tag])
        if original:
            orig = torch_reference(checkpoints, images[tag], original)
            for precision in ("float64", "float32"):
                for part, value in ref[precision].items():
                    upstream_rows.append({"precision": precision, "part": part, "size": tag,
                                          "max_abs_difference": float(np.max(np.abs(orig[precision][part] - value)))})
            upstream_rows.append({"precision": "float32", "part": "flux2/roundtrip", "size": tag,
                                  "max_abs_difference": float(np.max(np.abs(orig["roundtrip"]["flux2"]
                                                                             - ref["roundtrip"]["flux2"])))})
        for part in ref["float64"]:
            model, which = part.split("/")
            inputs[f"{part}/{tag}"] = images[tag] if which == "encoder" else ref["float64"][f"{model}/encoder"]
        inputs[f"flux2/roundtrip/{tag}"] = images[tag]
    rows, psnr_rows, sources = [], [], {}
    for backend in backends:
        out = run_backend(backend, inputs, precisions, checkpoints)
        sources[backend] = json.loads(str(out["sources"]))
        for size in sizes:
            tag, ref = _tag(size), references[_tag(size)]
            for precision in precisions:
                for part in ref["float64"]:
                    got = out[f"{part}/{tag}/{precision}"]
                    error = float(np.max(np.abs(got - ref[precision][part])))
                    rows.append({
                        "backend": backend, "precision": precision, "part": part, "size": tag,
                        "max_abs_error": error,
                        "max_abs_error_vs_float64": float(np.max(np.abs(got - ref["float64"][part]))),
                        "tolerance": TOLERANCE[precision], "within": error <= TOLERANCE[precision],
                        "keras_dtype": str(got.dtype)})
            keras_psnr = psnr(out[f"flux2/roundtrip/{tag}/float32"], images[tag])
            ref_psnr = psnr(ref["roundtrip"]["flux2"], images[tag])
            for name, k, r in zip(PHOTOS, keras_psnr, ref_psnr, strict=True):
                psnr_rows.append({"backend": backend, "photo": name, "size": tag, "keras_psnr_db": float(k),
                                  "reference_psnr_db": float(r), "difference_db": float(k - r),
                                  "within": abs(float(k - r)) <= PSNR_TOLERANCE_DB})
    return {"rows": rows, "psnr": psnr_rows, "original": upstream_rows, "weights": sources}


def write_reference(path: str | os.PathLike, checkpoints, original: str | None = None) -> Path:
    """Store the reference outputs on small crops (tests/data/tae_reference.npz) with their provenance.

    Keys: ``images_{HxW}`` (uint8), ``{model}_{part}_{HxW}_{precision}``; the decoders decode
    ``flux2_encoder_{HxW}_float64``. ``meta`` is a JSON string (checkpoint SHA-256, versions, crops).
    """
    import torch

    data: dict[str, np.ndarray] = {}
    for tag, image in stored_images().items():
        data[f"images_{tag}"] = image
        ref = torch_reference(checkpoints, image)
        if original:
            orig = torch_reference(checkpoints, image, original)
            worst = max(float(np.max(np.abs(orig[p][k] - v))) for p in PRECISIONS for k, v in ref[p].items())
            if worst != 0.0:
                raise RuntimeError(f"our reference differs from {original} by {worst:.3g} on {tag}")
        for part in STORED_PARTS[tag]:
            for precision in PRECISIONS:
                data[f"{part.replace('/', '_')}_{tag}_{precision}"] = ref[precision][part]
    meta = {
        "photos": {tag: f"{name}, 1/4 scale (4x4 block mean, rounded), centred {size[0]}x{size[1]} crop"
                   for tag, name, size in STORED_CROPS},
        "photo_licence": "scikit-learn sample images (sklearn.datasets.load_sample_image), CC BY 2.0",
        "reference": "benchmarks.peers.tae_torch", "checked_against_original": bool(original),
        "checkpoints": {f"{v}_{p}.pth": sha256(Path(checkpoints) / f"{v}_{p}.pth")
                        for v, _e, parts, _a in MODELS.values() for p in parts},
        "torch": torch.__version__, "command": "python -m benchmarks.tae_parity --checkpoints DIR --write-reference PATH",
    }
    data["meta"] = np.array(json.dumps(meta))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **data)
    return path


def format_tables(result: dict) -> str:
    """Markdown tables of the parity rows, the PSNR rows and the upstream check."""
    lines = ["| backend | precision | part | size | max abs error | vs float64 ref. | tolerance | ok |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['backend']} | {r['precision']} | {r['part']} | {r['size']} | {r['max_abs_error']:.2e} | "
                     + f"{r['max_abs_error_vs_float64']:.2e} | {r['tolerance']:.0e} | {_verdict(r)} |")
    lines += ["", "| backend | photo | size | Keras PSNR dB | reference PSNR dB | difference dB | ok |",
              "|---|---|---|---|---|---|---|"]
    for r in result["psnr"]:
        lines.append(f"| {r['backend']} | {r['photo']} | {r['size']} | {r['keras_psnr_db']:.4f} | "
                     + f"{r['reference_psnr_db']:.4f} | {r['difference_db']:+.5f} | {'yes' if r['within'] else 'NO'} |")
    if result["original"]:
        lines += ["", "| upstream taesd.py vs our reference | precision | size | max abs difference |", "|---|---|---|---|"]
        for r in result["original"]:
            lines.append(f"| {r['part']} | {r['precision']} | {r['size']} | {r['max_abs_difference']:.2e} |")
    return "\n".join(lines)


def _verdict(row: dict) -> str:
    if row["within"]:
        return "yes"
    return "NO"


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring); ``worker IN OUT PRECISIONS [CHECKPOINTS]`` is the per-backend process."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return keras_worker(argv[1], argv[2], argv[3], argv[4] if len(argv) > 4 else None)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", required=True, help="folder with taef2_encoder.pth, taef2_decoder.pth, "
                        + "taesana_encoder.pth (github madebyollin/taesd)")
    parser.add_argument("--original", help="path of upstream taesd.py, to check our reference against it")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--write-reference", metavar="NPZ", help="store the small-crop reference outputs here and stop")
    parser.add_argument("--out", default=str(RESULTS / "tae_parity"), help="output path without suffix")
    args = parser.parse_args(argv)
    if args.write_reference:
        print(f"wrote {write_reference(args.write_reference, args.checkpoints, args.original)}")
        return 0
    import time

    start = time.perf_counter()
    result = measure(args.checkpoints, tuple(args.backends), original=args.original)
    import torch

    result["environment"] = {"python": sys.version.split()[0], "torch": torch.__version__,
                             "cpu_count": os.cpu_count(), "wall_s": round(time.perf_counter() - start, 1),
                             "command": "python -m benchmarks.tae_parity " + " ".join(argv)}
    result["checkpoints"] = {f"{v}_{p}.pth": sha256(Path(args.checkpoints) / f"{v}_{p}.pth")
                             for v, _e, parts, _a in MODELS.values() for p in parts}
    table = format_tables(result)
    print(table)
    out = Path(args.out)
    write_json(result, out.with_suffix(".json"), indent=1)
    out.with_suffix(".md").write_text(table + "\n")
    print(f"wrote {out.with_suffix('.json')}, {out.with_suffix('.md')}")
    failed = [r for r in result["rows"] if not r["within"]]
    failed += [r for r in result["psnr"] if not r["within"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
