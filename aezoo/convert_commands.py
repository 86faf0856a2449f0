"""``aezoo convert``: PyTorch Tiny AutoEncoder checkpoints -> a zoo folder that ``zoo.load_pretrained`` loads.

    aezoo convert taesd_encoder.pth taesd_decoder.pth --out my_tae/
    aezoo convert taesana_encoder.pth --out my_sana/                  # encoder only
    aezoo convert enc.pth dec.pth --variant taef1 --out my_f1/ --evaluate
    aezoo evaluate my_tae/ --check-card

The variant comes from the file name (``taesd``, ``taesdxl``, ``taesd3``, ``taef1``,
``taef2``, ``taesana``) or ``--variant``. ``--evaluate`` measures the round trip on
scikit-learn's sample photographs with the port and with the plain PyTorch reference
(``benchmarks.peers.tae_torch``, float32) side by side, and writes both into the card.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable
from pathlib import Path

#: The PyTorch reference and the port must give the same round-trip PSNR within this many dB.
PSNR_AGREEMENT_DB = 0.01


def reference_comparison(model, files: dict[str, str | os.PathLike], variant: str, spec: str) -> dict:
    """The PyTorch reference's photo metrics beside the port's, and their largest differences.

    Args:
        model: The converted model (``zoo.load_pretrained(folder)``).
        files: Part -> the original ``.pth`` checkpoint.
        variant: The checkpoints' variant (``zoo.pretrained.convert.VARIANTS``).
        spec: ``"sklearn_photos"`` or ``"sklearn_photos:SIZE"``.

    Returns:
        ``metrics`` (the reference's, :func:`zoo.evaluation.evaluate.photo_metrics`), ``port_metrics``,
        ``latent_max_abs_error`` (port vs reference encoder), ``image_max_abs_error`` (decoders
        on the reference's latents) and ``psnr_max_abs_difference_db``.
    """
    import numpy as np
    import torch

    from benchmarks.peers import tae_torch
    from zoo.evaluation.evaluate import load_photos, parse_photos, photo_metrics

    torch.set_num_threads(max(1, torch.get_num_threads()))
    modules = dict(zip(("encoder", "decoder"), tae_torch.build_variant(variant), strict=True))
    ref = {part: tae_torch.load_part(modules[part], str(path), torch.float32) for part, path in files.items()}
    photos = load_photos(parse_photos(spec))
    ref_encode = lambda x: tae_torch.reference_encode(ref["encoder"], x).numpy()  # noqa: E731
    ref_decode = (lambda z: tae_torch.reference_decode(ref["decoder"], z).numpy()) if "decoder" in ref else None  # noqa: E731
    port_decode = model.decode if "decoder" in ref else None
    out = {"implementation": "benchmarks.peers.tae_torch (plain PyTorch, float32, CPU)",
           "torch": torch.__version__, "dataset": spec,
           "metrics": photo_metrics(photos, ref_encode, ref_decode),
           "port_metrics": photo_metrics(photos, model.encode, port_decode)}
    latent_err, image_err = 0.0, 0.0
    for x in photos.values():
        z_ref = ref_encode(x[None])
        latent_err = max(latent_err, float(np.max(np.abs(model.encode(x[None]) - z_ref))))
        if ref_decode is not None:
            image_err = max(image_err, float(np.max(np.abs(model.decode(z_ref) - ref_decode(z_ref)))))
    out["latent_max_abs_error"] = latent_err
    if ref_decode is not None:
        out["image_max_abs_error"] = image_err
        out["psnr_max_abs_difference_db"] = max(abs(out["metrics"][k] - out["port_metrics"][k])
                                                for k in out["metrics"] if k.startswith("psnr"))
    return out


def side_by_side(comparison: dict) -> str:
    """A text table of the port's and the reference's photo metrics."""
    port, ref = comparison["port_metrics"], comparison["metrics"]
    keys = [k for k, v in port.items() if isinstance(v, float)]
    lines = [f"{'metric':<16} {'aezoo (Keras)':>14} {'PyTorch ref.':>14} {'difference':>11}"]
    lines += [f"{k:<16} {port[k]:>14.4f} {ref[k]:>14.4f} {port[k] - ref[k]:>11.2e}" for k in keys]
    return "\n".join(lines)


def _recorded_command(args: argparse.Namespace, out: Path) -> str:
    """The command as a reader would retype it: checkpoint file names, the output folder relative to here."""
    try:
        shown = str(out.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        shown = str(out)
    words = ["aezoo convert", Path(args.encoder).name, *([Path(args.decoder).name] if args.decoder else []),
             "--out", shown]
    for flag, value in (("--variant", args.variant), ("--name", args.name), ("--commit", args.commit),
                        ("--weights-dtype", None if args.weights_dtype == "float16" else args.weights_dtype),
                        ("--note", shlex.quote(args.note) if args.note else None)):
        words += [flag, value] if value else []
    return " ".join(words + (["--evaluate"] if args.evaluate else []) + (["--overwrite"] if args.overwrite else []))


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert, reload (SHA-256 checked) and print what was written."""
    import zoo
    from zoo.evaluation.evaluate import PHOTOS, SAMPLE_PHOTO_SIZE
    from zoo.pretrained.convert import convert_checkpoint, write_card

    out = Path(args.out)
    card = convert_checkpoint(args.encoder, args.decoder, out=out, variant=args.variant, name=args.name,
                              overwrite=args.overwrite, commit=args.commit, repository=args.repository,
                              weights_dtype=args.weights_dtype, evaluate=args.evaluate,
                              command=_recorded_command(args, out), note=args.note or "")
    source = card.extra["source"]
    for part, w in card.weights.items():
        print(f"wrote {out / w['file']}  ({w['bytes']:,} bytes, {card.extra['weights_dtype']}, "
              + f"{source['files'][part]['tensors']} tensors from {source['files'][part]['file']})")
        if not source["files"][part]["stored_exactly"]:
            print(f"note: {source['files'][part]['file']} holds {', '.join(source['files'][part]['dtypes'])} values; "
                  + f"{card.extra['weights_dtype']} changed them by up to "
                  + f"{source['files'][part]['storage_max_abs_change']:.2g} (--weights-dtype float32 keeps them exact)")
    if args.evaluate:
        model = zoo.load_pretrained(out / f"{card.name}.json")
        files = {"encoder": args.encoder} | ({"decoder": args.decoder} if args.decoder else {})
        comparison = reference_comparison(model, files, source["variant"], PHOTOS)
        sample = reference_comparison(model, files, source["variant"], f"{PHOTOS}:{SAMPLE_PHOTO_SIZE}")
        card.extra["reference"] = {**comparison, "sample": {k: sample[k] for k in sample if k != "port_metrics"}}
        write_card(card, out / f"{card.name}.json")
        print(side_by_side(comparison))
        gap = comparison.get("psnr_max_abs_difference_db", 0.0)
        if gap > PSNR_AGREEMENT_DB:
            raise ValueError(f"the port's round-trip PSNR differs from the PyTorch reference's by {gap:.3g} dB "
                             + f"(more than {PSNR_AGREEMENT_DB} dB); the card in {out} records both.")
    card_file = out / f"{card.name}.json"
    target = card.name if card.name in zoo.list_pretrained() and card_file.resolve() == (
        Path(zoo.pretrained.PRETRAINED_DIR) / card_file.name).resolve() else str(
        out if len(list(out.glob("*.json"))) == 1 else card_file)
    print(f"wrote {card_file}; load it with zoo.load_pretrained({target!r})")
    return 0


def cmd_evaluate_photos(args: argparse.Namespace, model, card) -> int:
    """``aezoo evaluate`` of a ported RGB entry: the card's photo metrics, recomputed (and checked with --check-card)."""
    import json

    from zoo.evaluation.evaluate import PHOTOS, SAMPLE_PHOTO_SIZE, evaluate_photos, format_table, parse_photos
    from zoo.pretrained import CARD_RTOL, compare_metrics

    spec = args.dataset or card.dataset
    if args.dataset == f"sample:{PHOTOS}":
        spec = f"{PHOTOS}:{SAMPLE_PHOTO_SIZE}"
    size = parse_photos(spec)
    metrics = evaluate_photos(model, spec)
    print(format_table(metrics))
    out = Path(args.output or f"runs/eval/{card.name}.{spec.replace(':', '_')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"target": str(args.target), **metrics}, indent=2))
    print(f"wrote {out}")
    if args.check_card:
        reference = card.metrics if size is None else card.sample_metrics
        if reference.get("dataset") != metrics["dataset"]:
            raise ValueError(f"the card of {card.name} has no metrics on {spec}"
                             + (f" (it has {card.metrics.get('dataset')} and {card.sample_metrics.get('dataset')})."
                                if card.metrics else "; convert with --evaluate to record them."))
        lines = compare_metrics(metrics, reference)
        print("\n".join(lines))
        failed = [line for line in lines if line.endswith("FAIL")]
        if failed or not lines:
            raise ValueError(f"{len(failed)} metric(s) differ from the card by more than {CARD_RTOL:.0%}: "
                             + ", ".join(line.split()[0] for line in failed))
        print(f"all {len(lines)} card metrics reproduced within {CARD_RTOL:.0%}")
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``convert`` to the ``aezoo`` parser."""
    from zoo.pretrained.convert import UPSTREAM, VARIANTS, WEIGHTS_DTYPES

    p = sub.add_parser("convert", help="convert PyTorch Tiny AutoEncoder checkpoints (.pth) into zoo weights + card",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("encoder", help="the encoder's .pth state_dict, e.g. taesd_encoder.pth")
    p.add_argument("decoder", nargs="?", help="the decoder's .pth (omit for an encoder-only folder)")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--variant", help=f"one of {', '.join(VARIANTS)} (default: from the file name)")
    p.add_argument("--name", help="entry name (default BUILDER.VARIANT, e.g. tae.taesd)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files of the same name")
    p.add_argument("--commit", help="the upstream commit the files come from (recorded in the card)")
    p.add_argument("--repository", default=UPSTREAM["repository"], help="the upstream repository (recorded)")
    p.add_argument("--weights-dtype", choices=WEIGHTS_DTYPES, default="float16",
                   help="storage dtype of the .weights.h5 files (loaded as float32; default float16)")
    p.add_argument("--note", help="text appended to the card's notes (e.g. why a part is missing)")
    p.add_argument("--evaluate", action="store_true",
                   help="measure the round trip on the sample photographs, beside the PyTorch reference")
    return {"convert": cmd_convert}
