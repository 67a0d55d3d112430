"""The training loop every family shares: data position, D/G steps, AMP, EMA, checkpoints, logs, DDP.

A family trainer (paired images, unpaired images, few-shot images, video) only says what a step's
losses are: :meth:`Trainer.discriminator_losses` and :meth:`Trainer.generator_losses` return dicts of
named loss terms, weighted by ``trainer.loss_weights`` and summed here. Everything else — the
optimizers and LR schedules, AMP on CUDA, the EMA of the generator, TensorBoard, the progress bar,
atomic checkpoints every N iterations and an exact resume, DistributedDataParallel under torchrun,
stopping on a NaN loss — lives here, once.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from vidsynth.errors import Interrupted, VidsynthError

from .. import checkpoint as ckpt
from ..config import OptimizerConfig, ScheduleConfig, TrainConfig
from ..distributed import DistInfo, ResumableDistributedSampler, all_ranks_true
from ..losses import PerceptualLoss, load_feature_network, wide
from .calls import Forward


class TrainingDiverged(VidsynthError):
    """A loss became NaN or infinite; the run stopped with its last good checkpoint kept."""


class ModelAverage:
    """An exponential moving average of a module's parameters (buffers are copied as they are).

    >>> net = nn.Linear(2, 2); avg = ModelAverage(net, beta=0.5)
    >>> with torch.no_grad(): _ = net.weight.add_(1.0)
    >>> avg.update(net, iteration=1)
    """

    def __init__(self, module: nn.Module, beta: float = 0.999, start_iter: int = 0):
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.beta = beta
        self.start_iter = start_iter

    @torch.no_grad()
    def update(self, source: nn.Module, iteration: int) -> None:
        beta = 0.0 if iteration <= self.start_iter else self.beta
        for avg, p in zip(self.module.parameters(), source.parameters()):
            avg.lerp_(p.detach(), 1.0 - beta)
        for avg_b, b in zip(self.module.buffers(), source.buffers()):
            avg_b.copy_(b)


def make_optimizer(params, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.type == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.type == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.type == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.betas[0] if cfg.betas else 0.0, weight_decay=cfg.weight_decay)


def lr_factor(schedule: ScheduleConfig):
    """The multiplier of the base LR at an iteration (a plain closure: LambdaLR does not pickle it)."""
    def factor(it: int) -> float:
        if schedule.type == "step":
            return schedule.gamma ** (it // max(schedule.step_size, 1))
        if schedule.type == "linear" and schedule.end > schedule.start and it > schedule.start:
            return max(0.0, 1.0 - (it - schedule.start) / (schedule.end - schedule.start))
        return 1.0
    return factor


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def to_device(batch, device, dtype: torch.dtype | None = None):
    """``batch`` (tensors in dicts, lists, tuples) on ``device``; floating tensors also in ``dtype`` if given."""
    if isinstance(batch, torch.Tensor):
        if dtype is not None and batch.is_floating_point():
            return batch.to(device, dtype, non_blocking=True)
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device, dtype) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, dtype) for v in batch)
    return batch


class Trainer:
    """Train one generator/discriminator pair.

    Subclasses implement :meth:`discriminator_losses`, :meth:`generator_losses` and
    :meth:`sample_images`; they read the networks as ``self.G`` / ``self.D`` (DistributedDataParallel
    wrappers under torchrun) and ``self.G_raw`` / ``self.D_raw`` (the modules themselves).

    A family trainer is used as (not a doctest: it needs networks and a dataset)::

        trainer = PairedImageTrainer(cfg, generator, discriminator, dataset, out="runs/x")
        trainer.train()
    """

    #: loss weights a family uses when the config does not say
    default_loss_weights: dict[str, float] = {"gan": 1.0}
    #: the loss terms the discriminator learns from; all weighted 0 (a pure-regression run): it never steps
    discriminator_terms: tuple[str, ...] = ("gan",)
    #: DDP must look for parameters a step leaves unused (video generators' flow heads on first frames)
    ddp_find_unused: bool = False
    #: what the family asks of the dataset (keyword arguments of its constructor)
    dataset_options: dict = {}

    def __init__(self, cfg: TrainConfig, generator: nn.Module, discriminator: nn.Module, dataset,
                 out: str, dist_info: DistInfo | None = None, progress: bool = True):
        self.cfg = cfg
        self.out = out
        self.info = dist_info or DistInfo()
        self.device = self.info.device
        self.progress = progress
        self.dataset = dataset
        self.weights = dict(self.default_loss_weights)
        self.weights.update(cfg.trainer.loss_weights)

        if self.info.distributed and self.device.type == "cuda":
            # batch statistics over the global batch, as imaginaire's sync_batch norms (SPADE's). PyTorch's
            # SyncBatchNorm runs on GPUs only: CPU (gloo) runs keep per-process statistics.
            generator = nn.SyncBatchNorm.convert_sync_batchnorm(generator)
            discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
        self.G_raw = generator.to(self.device)
        self.D_raw = discriminator.to(self.device)
        # the training forward of each network, as one module (what DDP wraps); *_plain skip DDP, for
        # passes whose gradients are not wanted (the generator in the D step, the discriminator in the G step)
        self.G_plain = Forward(self.G_raw, self.generator_call())
        self.D_plain = Forward(self.D_raw, self.discriminator_call())
        self.G, self.D = self.G_plain, self.D_plain
        if self.info.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G = DDP(self.G_plain, device_ids=ids, find_unused_parameters=self.ddp_find_unused)
            self.D = DDP(self.D_plain, device_ids=ids, find_unused_parameters=self.ddp_find_unused)

        self.opt_G = make_optimizer(self.G_raw.parameters(), cfg.gen_opt)
        self.opt_D = make_optimizer(self.D_raw.parameters(), cfg.dis_opt)
        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, lr_factor(cfg.gen_opt.schedule))
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, lr_factor(cfg.dis_opt.schedule))
        self.amp = bool(cfg.trainer.amp and self.device.type == "cuda" and not cfg.trainer.float64)
        self.dtype = torch.float64 if cfg.trainer.float64 else None  # what the data is cast to (None: as read)
        self.scaler_G = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.scaler_D = torch.amp.GradScaler("cuda", enabled=self.amp)
        ema = cfg.trainer.ema
        self.ema = ModelAverage(self.G_raw, ema.beta, ema.start_iter) if ema.enabled else None

        self.perceptual = None
        if self.weights.get("perceptual", 0.0) > 0:
            net = load_feature_network(cfg.trainer.perceptual.network)
            self.perceptual = PerceptualLoss(net, cfg.trainer.perceptual.weights).to(self.device)

        self.iteration = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.writer = None
        self.last_losses: dict[str, float] = {}
        self._check_dataset_size()
        self.sampler = ResumableDistributedSampler(len(dataset), self.info.world_size, self.info.rank,
                                                   shuffle=True, seed=cfg.trainer.seed)

    # --- what a family defines -----------------------------------------------------------------------

    def discriminator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def generator_call(self):
        """``fn(net, *inputs)`` that runs the generator's training forward (None: ``net(*inputs)``)."""
        return None

    def discriminator_call(self):
        return None

    def ema_forward(self) -> nn.Module:
        """The averaged generator behind the same call as training (for sample images)."""
        return Forward(self.inference_generator(), self.generator_call())

    def sample_images(self, batch: dict) -> dict[str, torch.Tensor]:
        """Images (B,3,H,W in [-1, 1]) to show in TensorBoard for this batch."""
        return {}

    def start_of_iteration(self, iteration: int) -> None:
        """A hook for schedules that change the data (vid2vid's progressive sequence length)."""

    def collate(self, items):
        return torch.utils.data.default_collate(items)

    # --- data ----------------------------------------------------------------------------------------

    @property
    def local_batch(self) -> int:
        return self.cfg.data.batch_size // self.info.world_size

    def _check_dataset_size(self) -> None:
        b, w = self.cfg.data.batch_size, self.info.world_size
        if b % w:
            raise VidsynthError(f"data.batch_size ({b}) is the global batch and must divide by the number of processes ({w})")
        if len(self.dataset) < b:
            raise VidsynthError(
                f"the dataset has {len(self.dataset)} training examples, fewer than one batch ({b}); add data or "
                "lower data.batch_size"
            )

    def batches(self) -> Iterator[dict]:
        """Batches forever, epoch after epoch, starting at the saved data position."""
        while True:
            self.sampler.set_position(self.epoch, self.batch_in_epoch * self.local_batch)
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(self.epoch)
            loader = DataLoader(self.dataset, batch_size=self.local_batch, sampler=self.sampler,
                                num_workers=self.cfg.data.num_workers, drop_last=True,
                                collate_fn=self.collate, pin_memory=self.device.type == "cuda")
            for batch in loader:
                self.batch_in_epoch += 1
                yield batch
            self.epoch += 1
            self.batch_in_epoch = 0

    # --- one iteration ---------------------------------------------------------------------------------

    def autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def _total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        total = None
        for name, value in terms.items():
            w = self.weights.get(name.split("/")[0], 1.0)
            if w == 0:
                continue
            total = wide(value) * w if total is None else total + wide(value) * w
        return total

    def _step(self, which: str, batch: dict) -> dict[str, float]:
        G_side = which == "gen"
        opt, scaler = (self.opt_G, self.scaler_G) if G_side else (self.opt_D, self.scaler_D)
        for p in self.D_raw.parameters():
            p.requires_grad_(not G_side)
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            terms = self.generator_losses(batch) if G_side else self.discriminator_losses(batch)
        total = self._total(terms)
        values = {f"{which}/{k}": float(v.detach()) for k, v in terms.items()}
        if total is None:  # every term of this side weighted 0: nothing to learn here
            return values
        values[f"{which}/total"] = float(total.detach())
        finite = all(math.isfinite(v) for v in values.values())
        if not all_ranks_true(finite, self.info):
            bad = [k for k, v in values.items() if not math.isfinite(v)] or ["(on another process)"]
            self._diverged(bad)
        scaler.scale(total).backward()
        if self.cfg.trainer.grad_clip > 0:
            scaler.unscale_(opt)
            params = self.G_raw.parameters() if G_side else self.D_raw.parameters()
            nn.utils.clip_grad_norm_(list(params), self.cfg.trainer.grad_clip)
        scaler.step(opt)
        scaler.update()
        return values

    def _diverged(self, bad: list[str]) -> None:
        last = ckpt.latest_checkpoint(self.out)
        keep = f"the last good checkpoint is {last}" if last else "no checkpoint had been written yet"
        raise TrainingDiverged(
            f"the loss {', '.join(bad)} became NaN or infinite at iteration {self.iteration + 1}; training stopped and "
            f"{keep}. Lower the learning rates (gen_opt.lr, dis_opt.lr), enable trainer.grad_clip, or check the data, "
            f"then resume with --resume {self.out}"
        )

    def train_step(self, batch: dict) -> dict[str, float]:
        batch = to_device(batch, self.device, self.dtype)
        trains_d = any(self.weights.get(term, 0) != 0 for term in self.discriminator_terms)
        values = self._step("dis", batch) if trains_d else {}
        values.update(self._step("gen", batch))
        for p in self.D_raw.parameters():
            p.requires_grad_(True)
        return values

    # --- checkpoints -----------------------------------------------------------------------------------

    def _gather_rng(self) -> list:
        state = ckpt.rng_state()
        if not self.info.distributed:
            return [state]
        import torch.distributed as dist

        states = [None] * self.info.world_size
        dist.all_gather_object(states, state)
        return states

    def save(self) -> str | None:
        rng = self._gather_rng()  # a collective: every rank takes part
        if not self.info.is_main:
            return None
        payload = {
            "iteration": self.iteration,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "world_size": self.info.world_size,
            "model": self.cfg.model,
            "config": json.dumps(self.cfg.to_dict()),
            "generator": self.G_raw.state_dict(),
            "discriminator": self.D_raw.state_dict(),
            "generator_ema": self.ema.module.state_dict() if self.ema else {},
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "sched_G": self.sched_G.state_dict(),
            "sched_D": self.sched_D.state_dict(),
            "scaler_G": self.scaler_G.state_dict(),
            "scaler_D": self.scaler_D.state_dict(),
            "rng": rng,
            "extra": self.extra_state(),
        }
        return ckpt.save_checkpoint(self.out, payload, keep=self.cfg.trainer.keep_checkpoints)

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def resume(self, source: str) -> None:
        """Restore everything from the newest checkpoint of run folder (or file) ``source``."""
        state = ckpt.load_checkpoint(source)
        if state["model"] != self.cfg.model:
            raise VidsynthError(
                f"the checkpoint {state['path']} trains model {state['model']!r} but the config says {self.cfg.model!r}; "
                "resume with the config the run started with"
            )
        try:
            self.G_raw.load_state_dict(state["generator"])
            self.D_raw.load_state_dict(state["discriminator"])
            if self.ema and state["generator_ema"]:
                self.ema.module.load_state_dict(state["generator_ema"])
        except RuntimeError as exc:
            raise VidsynthError(
                f"the checkpoint {state['path']} does not fit the networks the config builds ({str(exc).splitlines()[0]}); "
                "resume with the config the run started with"
            ) from None
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.sched_G.load_state_dict(state["sched_G"])
        self.sched_D.load_state_dict(state["sched_D"])
        self.scaler_G.load_state_dict(state["scaler_G"])
        self.scaler_D.load_state_dict(state["scaler_D"])
        self.iteration = int(state["iteration"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        if int(state["world_size"]) != self.info.world_size:
            # another process count reads another share of each batch: same global order, new sub-batches
            self.batch_in_epoch = self.batch_in_epoch * int(state["world_size"]) // self.info.world_size
        rngs = state["rng"]
        ckpt.set_rng_state(rngs[self.info.rank] if self.info.rank < len(rngs) else rngs[0])
        self.load_extra_state(state.get("extra", {}))
        self.resumed_from = state["path"]

    def load_init(self, state_dict: dict, source: str) -> None:
        """Start the generator (and its average) from given weights: ``--init`` fine-tuning."""
        from vidsynth.networks.layers import load_plain_weights

        missing, unexpected = load_plain_weights(self.G_raw, state_dict)
        if missing or unexpected:
            raise VidsynthError(
                f"the model file {source} does not fit the generator the config builds: missing keys "
                f"{list(missing)[:5]}, unexpected keys {list(unexpected)[:5]}; use a model file of the same model and size"
            )
        if self.ema:
            self.ema.module.load_state_dict(self.G_raw.state_dict())

    # --- logging ---------------------------------------------------------------------------------------

    def _open_logs(self) -> None:
        if not self.info.is_main:
            return
        os.makedirs(self.out, exist_ok=True)
        # a resumed run drops log lines written after its checkpoint, so the log reads as one run
        path = os.path.join(self.out, "losses.jsonl")
        if os.path.exists(path):
            keep = []
            for line in open(path):
                try:
                    if json.loads(line)["iteration"] <= self.iteration:
                        keep.append(line)
                except (ValueError, KeyError):
                    pass
            ckpt.atomic_write(path, lambda tmp: open(tmp, "w").writelines(keep))
        self.loss_log = open(path, "a")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(os.path.join(self.out, "logs"), purge_step=self.iteration + 1)
        except ImportError:
            self.writer = None

    def _log(self, values: dict[str, float]) -> None:
        if not self.info.is_main:
            return
        it = self.iteration
        if it % self.cfg.trainer.log_every == 0 or it == self.cfg.trainer.max_iter:
            record = {"iteration": it, **values, "lr_G": self.opt_G.param_groups[0]["lr"],
                      "lr_D": self.opt_D.param_groups[0]["lr"]}
            self.loss_log.write(json.dumps(record) + "\n")
            self.loss_log.flush()
            if self.writer:
                for k, v in record.items():
                    if k != "iteration":
                        self.writer.add_scalar(k, v, it)

    def _log_images(self, batch: dict) -> None:
        if not (self.info.is_main and self.writer):
            return
        if self.iteration % self.cfg.trainer.image_every and self.iteration != self.cfg.trainer.max_iter:
            return
        with torch.no_grad():
            images = self.sample_images(to_device(batch, self.device, self.dtype))
        for name, img in images.items():
            img = ((img[:4].detach().float().cpu().clamp(-1, 1) + 1) / 2)
            self.writer.add_images(f"samples/{name}", img, self.iteration)

    # --- the loop --------------------------------------------------------------------------------------

    def _any_rank(self, *flags: bool) -> list[bool]:
        """Each flag, true when it holds on any rank (a collective under torchrun: every rank agrees)."""
        if not self.info.distributed:
            return list(flags)
        import torch.distributed as dist

        t = torch.tensor([1.0 if f else 0.0 for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v > 0.5) for v in t.tolist()]

    def _interrupted(self, signum: int, saved: str | None) -> Interrupted:
        if saved:
            detail = f"checkpoint saved at iteration {self.iteration}: {saved}; continue with --resume {self.out}"
        else:
            last = ckpt.latest_checkpoint(self.out)
            detail = (f"stopped at once (a second signal) during iteration {self.iteration + 1}; the last checkpoint "
                      f"is {last}" if last else "stopped before any checkpoint was written")
        return Interrupted(signum, detail)

    def train(self) -> None:
        """Run until ``trainer.max_iter``; checkpoint every ``checkpoint_every`` iterations, every
        ``checkpoint_minutes`` minutes, at the end, and on Ctrl-C or SIGTERM.

        A first Ctrl-C/SIGTERM lets the iteration in progress finish, saves a checkpoint at that iteration
        and raises :class:`~vidsynth.errors.Interrupted` saying where it is; ``--resume`` continues there.
        A second one stops at once (the last checkpoint stays).
        """
        with _signals_deferred(self.info.is_main) as pending:
            try:
                self._train_loop(pending)
            except KeyboardInterrupt as exc:
                if isinstance(exc, Interrupted) and exc.detail:
                    raise
                raise self._interrupted(getattr(exc, "signum", signal.SIGINT), None) from None

    def _train_loop(self, pending: "_PendingSignal") -> None:
        t_cfg = self.cfg.trainer
        self._open_logs()
        bar = None
        if self.progress and self.info.is_main:
            from tqdm import tqdm

            bar = tqdm(total=t_cfg.max_iter, initial=self.iteration, desc=f"train {self.cfg.model}", unit="it",
                       dynamic_ncols=True)
        data = self.batches()
        self.G.train()
        self.D.train()
        period_s = t_cfg.checkpoint_minutes * 60.0
        next_by_time = time.monotonic() + period_s
        try:
            while self.iteration < t_cfg.max_iter:
                self.start_of_iteration(self.iteration)
                batch = next(data)
                values = self.train_step(batch)
                self.iteration += 1
                if self.ema:
                    self.ema.update(self.G_raw, self.iteration)
                with warnings.catch_warnings():  # a discriminator whose losses are all weighted 0 never steps
                    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                    self.sched_G.step()
                    self.sched_D.step()
                self.last_losses = values
                self._log(values)
                self._log_images(batch)
                if bar:
                    bar.update(1)
                    bar.set_postfix({k.split("/")[0][0] + ":" + k.split("/")[1][:6]: f"{v:.3f}"
                                     for k, v in values.items() if k.endswith("total") or k.endswith("/gan")})
                stop, by_time = self._any_rank(pending.signum is not None,
                                               period_s > 0 and time.monotonic() >= next_by_time)
                if stop or by_time or self.iteration % t_cfg.checkpoint_every == 0 or self.iteration == t_cfg.max_iter:
                    saved = self.save()
                    next_by_time = time.monotonic() + period_s
                    if stop and self.iteration < t_cfg.max_iter:  # a run that just finished exports its model
                        raise self._interrupted(pending.signum or signal.SIGTERM, saved or "(saved by rank 0)")
        finally:
            if bar:
                bar.close()
            if self.info.is_main:
                if self.writer:
                    self.writer.close()
                self.loss_log.close()

    def inference_generator(self) -> nn.Module:
        """The weights to export: the EMA copy when there is one."""
        return self.ema.module if self.ema else self.G_raw


class _PendingSignal:
    """The first SIGINT/SIGTERM a training run received (None: none yet)."""

    signum: int | None = None


@contextlib.contextmanager
def _signals_deferred(announce: bool):
    """Take Ctrl-C and SIGTERM as "stop after this iteration" while training; a second one stops at once.

    Only the main thread can take signals (elsewhere, e.g. a notebook's worker thread, nothing changes).
    """
    pending = _PendingSignal()
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def defer(signum, _frame):
        if pending.signum is not None:
            raise Interrupted(signum)
        pending.signum = signum
        if announce:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            print(f"vidsynth: {name}: saving a checkpoint after this iteration (again to stop at once)",
                  file=sys.stderr, flush=True)

    previous = {s: signal.signal(s, defer) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield pending
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
