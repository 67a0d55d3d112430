"""``run()``: one training run from a config, a data folder and an output folder — one process or many.

Under ``torchrun`` every process calls the same ``run()``; the process group, the device and each
rank's share of the data follow from the environment, nothing else changes.

A run (not a doctest: it trains on a data folder)::

    from vidsynth.training import run
    run("spade_tiny", data="data/street", out="runs/spade")
"""

from __future__ import annotations

import contextlib
import copy
import json
import os

import torch

from vidsynth.errors import VidsynthError
from vidsynth.networks.layers import apply_weight_norms, fold_weight_norms

from . import checkpoint as ckpt
from .config import TrainConfig, load_config
from .datasets import build_dataset
from .distributed import finish_distributed, init_distributed, shutdown_distributed
from .models import _EXTRA, build_networks, initialise_weights, trainer_class, trainer_family
from .trainers.base import seed_everything


def load_init_weights(path: str, model: str) -> dict:
    """The generator weights of a model file (ours, safetensors) for ``--init`` fine-tuning."""
    if not os.path.isfile(path):
        raise VidsynthError(f"the --init model file {path!r} does not exist; give a .safetensors model file "
                            "(convert an imaginaire checkpoint first with `vidsynth convert`)")
    from vidsynth.networks.model_file import load_model, read_model_info

    name = read_model_info(path)["model"]
    if name != model:
        raise VidsynthError(f"the --init file {path} holds a {name!r} model but the config trains {model!r}; "
                            "use a model file of the same model")
    if model in _EXTRA:  # a model registered for training only: the registry cannot rebuild it
        from safetensors.torch import load_file

        return load_file(path)
    return load_model(path).state_dict()


def export_model(generator, cfg: TrainConfig, path: str) -> str:
    """Write the trained generator as our model file (safetensors, name + config in the metadata)."""
    from vidsynth.networks import model_file

    if getattr(generator, "model_name", None) and hasattr(generator, "config"):
        # weight norms baked into plain weights: the file holds what the network computes now
        plain = fold_weight_norms(copy.deepcopy(generator).eval()).float()  # fp32 also after a float64 run
        model_file.save_model(plain, path)  # atomic (temp + rename)
        return path
    # a model registered for training only: the same file format, its config as given
    from safetensors.torch import save_file

    meta = {"format": model_file.FORMAT, "format_version": str(model_file.FORMAT_VERSION), "model": cfg.model,
            "config": json.dumps(cfg.generator), "tied": "{}"}
    state = {k: (v.float() if v.is_floating_point() else v).detach().contiguous().cpu()
             for k, v in generator.state_dict().items()}
    ckpt.atomic_write(path, lambda tmp: save_file(state, tmp, metadata=meta))
    return path


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Tensors and modules created inside are ``dtype`` by default (``trainer.float64`` runs)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def run(config: str | TrainConfig, data: str, out: str, resume: str | None = None, init: str | None = None,
        device: str | None = None, progress: bool = True, max_iter: int | None = None) -> dict:
    """Train the model a config describes on the folder ``data``; write logs, checkpoints and the model file
    to ``out``.

    ``resume``: a run folder (or checkpoint file) to continue exactly where it stopped (usually ``out``).
    ``init``: a model file whose generator weights start the run (fine-tuning). ``max_iter`` overrides
    ``trainer.max_iter``. Returns {'model_file', 'iteration', 'losses'} (the last iteration's losses).
    """
    cfg = load_config(config) if isinstance(config, str) else config
    if max_iter is not None:
        cfg.trainer.max_iter = int(max_iter)
    if resume and init:
        raise VidsynthError("--resume and --init exclude each other: resume continues a run, init starts a new one")
    if cfg.data.type != trainer_family(cfg.model) and not (cfg.data.type == "paired_videos" and trainer_family(cfg.model) == "few_shot_videos"):
        raise VidsynthError(f"model {cfg.model!r} trains on data.type {trainer_family(cfg.model)!r}; the config says "
                            f"{cfg.data.type!r}")
    if not resume and ckpt.latest_checkpoint(out) is not None and not os.path.isfile(out):
        raise VidsynthError(f"{out} already holds a training run; continue it with --resume {out}, or pick another --out")
    info = init_distributed(device)
    try:
        with default_dtype(torch.float64 if cfg.trainer.float64 else torch.float32):
            return _train(cfg, data, out, resume, init, info, progress)
    finally:
        shutdown_distributed()


def _train(cfg: TrainConfig, data: str, out: str, resume: str | None, init: str | None, info, progress: bool) -> dict:
    """run()'s body, inside the process group."""
    dataset = build_dataset(data, cfg.data, seed=cfg.trainer.seed, train=True,
                            **trainer_class(cfg.model).dataset_options)
    seed_everything(cfg.trainer.seed)  # identical initial weights on every rank
    generator, discriminator = build_networks(cfg, dataset)
    if cfg.trainer.generator_weight_norms:
        apply_weight_norms(generator)  # folded back into plain weights at export
    initialise_weights(generator, cfg.trainer.init)
    initialise_weights(discriminator, cfg.trainer.init)
    trainer = trainer_class(cfg.model)(cfg, generator, discriminator, dataset, out, info, progress=progress)
    if resume:
        trainer.resume(resume)
    else:
        if init:
            trainer.load_init(load_init_weights(init, cfg.model), init)
        seed_everything(cfg.trainer.seed + 1 + info.rank)  # per-rank randomness for the run itself
        if info.is_main:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "config.json"), "w") as f:
                json.dump(cfg.to_dict(), f, indent=1)
    trainer.train()
    model_file = None
    if info.is_main:
        model_file = export_model(trainer.inference_generator(), cfg, os.path.join(out, "model.safetensors"))
    result = {"model_file": model_file, "iteration": trainer.iteration, "losses": trainer.last_losses}
    # The DDP wrappers hold the process group: release them before it goes, and let no rank leave
    # (and tear its connections down) while rank 0 is still writing the model file.
    del trainer, generator, discriminator
    finish_distributed(info)
    return result
