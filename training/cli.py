"""The ``vidsynth train`` sub-command: ``vidsynth train --config C --data D --out O [--resume O] [--init F]``.

``vidsynth.cli`` registers it with ``add_train_parser(subparsers)``; the same command runs under
``torchrun --nproc_per_node=N -m vidsynth.cli train ...`` for distributed training.
"""

from __future__ import annotations

import argparse

from vidsynth.errors import VidsynthError


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a model on a folder of frames and conditioning",
        description="Train one of the nine models on imaginaire's raw layout or a `vidsynth extract --dataset-out` "
                    "folder. Under torchrun it trains with DistributedDataParallel.",
    )
    p.add_argument("--config", default=None, help="YAML training config, or a shipped name (e.g. spade_tiny)")
    p.add_argument("--data", default=None, help="the data root folder")
    p.add_argument("--out", required=True, help="run folder: logs, checkpoints, model.safetensors (with --job: "
                   "the model file; its run folder is OUT without the extension + .run)")
    job = p.add_argument_group("personal models (instead of --config/--data)")
    job.add_argument("--job", default=None, help="train the model a job needs from one clip of the target: talk "
                     "(dance and street where installed)")
    job.add_argument("--target", default=None, help="with --job: the target's clip (video file or synthetic:NAME)")
    job.add_argument("--minutes", type=float, default=None, help="with --job: the training time budget")
    job.add_argument("--size", type=int, default=None, help="with --job: the model's side in pixels (default: "
                     "128 on a CPU, 256 on a GPU)")
    job.add_argument("--frames", type=int, default=None, help="with --job: use only the clip's first N frames")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR exactly where it stopped")
    p.add_argument("--init", default=None, metavar="FILE", help="start the generator from a model file (fine-tune)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--max-iter", type=int, default=None, help="override trainer.max_iter")
    p.add_argument("--checkpoint-minutes", type=float, default=None, metavar="M",
                   help="also save a checkpoint every M minutes (override trainer.checkpoint_minutes, default 10; "
                        "0: by iteration only). Ctrl-C and SIGTERM always save one before stopping")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
    return p


def cmd_train(args) -> int:
    from vidsynth.engine.devices import check_device

    from .config import load_config
    from .launch import run

    if args.device is not None:
        args.device = check_device(args.device)  # a typo or a missing GPU, before the data and networks load
    if getattr(args, "job", None):
        return _train_job(args)
    if not args.config or not args.data:
        raise VidsynthError("vidsynth train needs --config and --data, or --job and --target (a personal model "
                            "from one clip)")
    config = args.config
    if args.checkpoint_minutes is not None:
        if not args.checkpoint_minutes >= 0:
            raise VidsynthError(f"expected --checkpoint-minutes ≥ 0 (0: by iteration only), found {args.checkpoint_minutes:g}")
        config = load_config(args.config)
        config.trainer.checkpoint_minutes = args.checkpoint_minutes
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    result = run(config, args.data, args.out, resume=args.resume, init=args.init, device=args.device,
                 progress=not args.no_progress, max_iter=args.max_iter)
    if result.get("model_file"):
        print(f"trained {result['iteration']} iterations; model file: {result['model_file']}")
    return 0


def _train_job(args) -> int:
    from vidsynth.errors import VidsynthError

    from .jobs import train_job

    if not args.target:
        raise VidsynthError(f"--job {args.job} needs --target: the clip of the person to learn")
    if args.config or args.data or args.init:
        raise VidsynthError("--job chooses its own config and extracts its own data from --target; drop --config, "
                            "--data and --init")
    result = train_job(args.job, args.target, args.out, minutes=args.minutes, device=args.device, size=args.size,
                       resume=bool(args.resume), max_iter=args.max_iter, max_frames=args.frames,
                       progress=not args.no_progress)
    print(f"trained {result['iteration']} iterations in {result['minutes']:.1f} min on {result['frames']} frames; "
          f"model file: {result['model_file']}")
    return 0


def main(argv=None) -> int:
    """Stand-alone entry (``python -m vidsynth.training.cli --config ...``), printing user errors on one line."""
    import sys

    parser = argparse.ArgumentParser(prog="vidsynth")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    args = parser.parse_args(["train"] + list(sys.argv[1:] if argv is None else argv))
    try:
        return args.func(args)
    except VidsynthError as exc:
        print(f"vidsynth: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the trainer saved a checkpoint and says where
        detail = getattr(exc, "detail", "")
        print("vidsynth: interrupted" + (f"; {detail}" if detail else ""), file=sys.stderr)
        return getattr(exc, "exit_code", 130)


if __name__ == "__main__":
    raise SystemExit(main())
