"""The ``vidsynth train`` sub-command: ``vidsynth train --config C --data D --out O [--resume O] [--init F]``.

``vidsynth.cli`` registers it with ``add_train_parser(subparsers)``; the same command runs under
``torchrun --nproc_per_node=N -m vidsynth.cli train ...`` for distributed training.
"""

from __future__ import annotations

import argparse


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a model on a folder of frames and conditioning",
        description="Train one of the nine models on imaginaire's raw layout or a `vidsynth extract --dataset-out` "
                    "folder. Under torchrun it trains with DistributedDataParallel.",
    )
    p.add_argument("--config", required=True, help="YAML training config, or a shipped name (e.g. spade_tiny)")
    p.add_argument("--data", required=True, help="the data root folder")
    p.add_argument("--out", required=True, help="run folder: logs, checkpoints, model.safetensors")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR exactly where it stopped")
    p.add_argument("--init", default=None, metavar="FILE", help="start the generator from a model file (fine-tune)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--max-iter", type=int, default=None, help="override trainer.max_iter")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
    return p


def cmd_train(args) -> int:
    from .launch import run

    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    result = run(args.config, args.data, args.out, resume=args.resume, init=args.init, device=args.device,
                 progress=not args.no_progress, max_iter=args.max_iter)
    if result.get("model_file"):
        print(f"trained {result['iteration']} iterations; model file: {result['model_file']}")
    return 0


def main(argv=None) -> int:
    """Stand-alone entry (``python -m vidsynth.training.cli --config ...``), printing user errors on one line."""
    import sys

    from vidsynth.errors import VidsynthError

    parser = argparse.ArgumentParser(prog="vidsynth")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    args = parser.parse_args(["train"] + list(sys.argv[1:] if argv is None else argv))
    try:
        return args.func(args)
    except VidsynthError as exc:
        print(f"vidsynth: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
