"""Video training (vid2vid, wc-vid2vid, few-shot vid2vid): sequences generated frame by frame.

Each iteration generates a sequence the way inference does — frame t from its label and the previous
``num_frames_G - 1`` labels and generated frames (detached, as vid2vid trains) — and sums per-frame
losses: image GAN on (label, frame), feature matching, perceptual, the flow terms (the predicted flow
against the ground-truth flow where the data has one, the previous real frame warped by the predicted
flow against the current one, the occlusion mask against where that warp is right), an optional
temporal consistency term, the temporal GAN on ``temporal_frames`` consecutive frames, and for
wc-vid2vid the guidance term. Progressive training: the sequence starts at ``video.initial_frames``
frames and doubles every ``video.double_every`` iterations up to ``data.sequence_length``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import (discriminator_loss, feature_matching_loss, flow_l1_loss, generator_loss, masked_l1,
                      occlusion_mask_loss, temporal_loss, warp, wide)
from ..guidance import SequenceGuidance
from .base import Trainer
from .calls import split_batch, video_discriminator


def push_frame(history, frame, keep: int):
    """Append ``frame`` [N,C,H,W] to ``history`` [N,t,C,H,W], keeping the newest ``keep``."""
    frame = frame.unsqueeze(1)
    if keep <= 0:
        return None
    if history is None:
        return frame
    return torch.cat([history[:, max(0, history.shape[1] - keep + 1):], frame], dim=1)


class VideoTrainer(Trainer):
    """Batches hold ``label`` (B,T,C,H,W), ``images`` (B,T,3,H,W) and optionally ``flow`` (B,T,2|3,H,W:
    backward flow t→t-1 in pixels, a third channel marking where it is valid). The discriminator is a
    ModuleDict {'image': ..., 'temporal': ...} ('temporal' only when ``temporal_gan`` is weighted)."""

    discriminator_terms = ("gan", "temporal_gan")
    default_loss_weights = {"gan": 1.0, "feature_matching": 10.0, "temporal_gan": 0.0, "perceptual": 0.0,
                            "flow": 10.0, "l1": 0.0, "temporal": 0.0}
    ddp_find_unused = True  # the flow head idles on the first frames of a sequence

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_frames = self.frames_at(0)

    def generator_call(self):
        # the whole sequence is one forward: DDP allows one forward per backward when it looks for unused
        # parameters (the flow head idles on the first frames)
        def sequence(net, batch, num_frames):
            return self._generate(net, batch, num_frames)
        return sequence

    def discriminator_call(self):
        return video_discriminator

    # --- progressive sequence length -------------------------------------------------------------------

    def frames_at(self, iteration: int) -> int:
        v = self.cfg.trainer.video
        n = v.initial_frames * 2 ** (iteration // max(v.double_every, 1))
        return int(max(1, min(self.cfg.data.sequence_length, n)))

    def start_of_iteration(self, iteration: int) -> None:
        self.num_frames = self.frames_at(iteration)

    @property
    def keep(self) -> int:
        return int(getattr(getattr(self.G_raw, "config", None), "num_frames_G", self.cfg.trainer.video.num_prev + 1)) - 1

    # --- generation --------------------------------------------------------------------------------------

    def frame_inputs(self, batch, t, prev_labels, prev_images, sequence=None) -> tuple[tuple, dict]:
        """The generator's arguments for frame t; ``sequence`` is what :meth:`begin_sequence` returned."""
        return (batch["label"][:, t], prev_labels, prev_images), {}

    def begin_sequence(self, batch):
        """State a family keeps while one batch of sequences is generated (None: nothing)."""
        return None

    def end_frame(self, sequence, t: int, out: dict, kwargs: dict) -> None:
        """Frame t was generated (``out``) from ``kwargs``; a family updates its ``sequence`` state here."""

    def _generate(self, net, batch, num_frames: int) -> list[dict]:
        outs, prev_l, prev_i = [], None, None
        sequence = self.begin_sequence(batch)
        for t in range(min(num_frames, batch["label"].shape[1])):
            args, kwargs = self.frame_inputs(batch, t, prev_l, prev_i, sequence)
            out = net(*args, **kwargs)
            if isinstance(out, torch.Tensor):
                out = {"image": out}
            self.end_frame(sequence, t, out, kwargs)
            outs.append(out)
            prev_l = push_frame(prev_l, batch["label"][:, t], self.keep)
            prev_i = push_frame(prev_i, out["image"].detach(), self.keep)
        return outs

    def generate_sequence(self, G, batch) -> list[dict]:
        """Frames 0..num_frames-1 generated as inference does (through ``G``, a :class:`Forward`)."""
        return G(batch, self.num_frames)

    def _temporal_on(self) -> bool:
        return self.weights.get("temporal_gan", 0) > 0 and "temporal" in getattr(self.D_raw, "keys", lambda: [])()

    def _seq(self, frames: list[torch.Tensor]) -> torch.Tensor:
        k = self.cfg.trainer.video.temporal_frames
        return torch.cat(frames[-k:], dim=1)

    # --- losses ---------------------------------------------------------------------------------------------

    def _d_inputs(self, batch, frames: list[torch.Tensor]) -> torch.Tensor:
        """(label_t, frame_t) pairs of every frame, stacked along the batch: one discriminator call."""
        return torch.cat([torch.cat([batch["label"][:, t], f], dim=1) for t, f in enumerate(frames)], dim=0)

    def discriminator_losses(self, batch):
        with torch.no_grad():
            outs = self.generate_sequence(self.G_plain, batch)
        mode = self.cfg.trainer.gan_mode
        n = len(outs)
        real = [batch["images"][:, t] for t in range(n)]
        fake = [o["image"].detach() for o in outs]
        temporal = None
        if self._temporal_on() and n >= self.cfg.trainer.video.temporal_frames:
            temporal = torch.cat([self._seq(real), self._seq(fake)], dim=0)
        # one forward through the (DDP-wrapped) discriminator: real and fake stacked, split after
        image_out, temporal_out = self.D(torch.cat([self._d_inputs(batch, real), self._d_inputs(batch, fake)]), temporal)
        real_out, fake_out = split_batch(image_out, 2)
        terms = {"gan": discriminator_loss(real_out, fake_out, mode)}
        if temporal_out is not None:
            t_real, t_fake = split_batch(temporal_out, 2)
            terms["temporal_gan"] = discriminator_loss(t_real, t_fake, mode)
        return terms

    def flow_terms(self, batch, t, out) -> dict[str, torch.Tensor]:
        """vid2vid's flow losses for frame t (t ≥ 1) from the flow that warps the previous frame."""
        flow, mask = out.get("flow"), out.get("occlusion_mask")
        if isinstance(flow, (list, tuple)):  # fs-vid2vid: [reference flow, previous-frame flow]
            flow, mask = flow[1], mask[1]
        if flow is None or t == 0:
            return {}
        real, prev_real = batch["images"][:, t], batch["images"][:, t - 1]
        warped_real = warp(prev_real, flow)
        terms = {"flow/warp": F.l1_loss(warped_real, real)}
        if "flow" in batch:
            gt = batch["flow"][:, t]
            valid = gt[:, 2:3] if gt.shape[1] > 2 else None
            terms["flow/l1"] = flow_l1_loss(flow, gt[:, :2], valid)
        if mask is not None:
            terms["flow/mask"] = occlusion_mask_loss(mask, warped_real, real)
        return terms

    def generator_losses(self, batch):
        outs = self.generate_sequence(self.G, batch)
        mode = self.cfg.trainer.gan_mode
        sums: dict[str, torch.Tensor] = {}

        def add(name, value):
            sums[name] = sums[name] + value if name in sums else value

        n = len(outs)
        fakes = [o["image"] for o in outs]
        reals = [batch["images"][:, t] for t in range(n)]
        fake_out, _ = self.D_plain(self._d_inputs(batch, fakes))
        sums["gan"] = generator_loss(fake_out, mode) * n
        if self.weights.get("feature_matching", 0) > 0:
            with torch.no_grad():
                real_out, _ = self.D_plain(self._d_inputs(batch, reals))
            sums["feature_matching"] = feature_matching_loss(fake_out, real_out) * n
        for t, out in enumerate(outs):
            fake, real = out["image"], reals[t]
            if self.perceptual is not None:
                add("perceptual", self.perceptual(fake, real))
            if self.weights.get("l1", 0) > 0:
                add("l1", (wide(fake) - wide(real)).abs().mean())
            if self.weights.get("flow", 0) > 0:
                for k, v in self.flow_terms(batch, t, out).items():
                    add(k, v)
            if t > 0 and self.weights.get("temporal", 0) > 0 and "flow" in batch:
                gt = batch["flow"][:, t]
                valid = gt[:, 2:3] if gt.shape[1] > 2 else None
                add("temporal", temporal_loss(outs[t - 1]["image"], fake, gt[:, :2], valid))
            if self.weights.get("guidance", 0) > 0 and out.get("guidance") is not None:
                add("guidance", masked_l1(fake, out["guidance"][:, :3], out["guidance"][:, 3:]))
        terms = {k: v / n for k, v in sums.items()}
        if self._temporal_on() and n >= self.cfg.trainer.video.temporal_frames:
            _, fake_t = self.D_plain(None, self._seq(fakes))
            terms["temporal_gan"] = generator_loss(fake_t, mode)
            if self.weights.get("feature_matching", 0) > 0:
                with torch.no_grad():
                    _, real_t = self.D_plain(None, self._seq(reals))
                terms["temporal_gan/feature_matching"] = feature_matching_loss(fake_t, real_t)
        return terms

    def sample_images(self, batch):
        outs = self.generate_sequence(self.ema_forward(), batch)
        return {"real": batch["images"][:, len(outs) - 1], "fake": outs[-1]["image"]}


class WorldConsistentVideoTrainer(VideoTrainer):
    """wc-vid2vid. With ``unprojections/`` in the data (``points`` in the batch), each frame gets the guidance
    inference would give it: the colours generated for earlier frames at the same 3D points
    (:class:`SequenceGuidance`), and the guidance loss (L1 to those colours where they exist) keeps the
    generated world consistent. Without them it trains as vid2vid does. A first-frame single-image
    model, when the generator has one, gets a random style code."""

    default_loss_weights = {**VideoTrainer.default_loss_weights, "guidance": 20.0}
    dataset_options = {"with_unprojections": True}

    def begin_sequence(self, batch):
        return SequenceGuidance(batch["points"]) if "points" in batch else None

    def frame_inputs(self, batch, t, prev_labels, prev_images, sequence=None):
        args, kwargs = super().frame_inputs(batch, t, prev_labels, prev_images)
        sim = getattr(self.G_raw, "single_image_model", None)
        if sim is not None:
            kwargs["single_image_z"] = torch.randn(batch["label"].shape[0], sim.config.style_dims, device=self.device)
        if sequence is not None:
            kwargs["guidance"] = sequence.guidance(t)
        return args, kwargs

    def end_frame(self, sequence, t, out, kwargs):
        if sequence is not None:
            out["guidance"] = kwargs["guidance"]
            sequence.update(t, out["image"])


class FewShotVideoTrainer(VideoTrainer):
    """fs-vid2vid: every frame also sees the references (``ref_label``, ``ref_images``: B,K,...); the
    reference warp is trained to reproduce the current frame."""

    def frame_inputs(self, batch, t, prev_labels, prev_images, sequence=None):
        return (batch["label"][:, t], batch["ref_label"], batch["ref_images"], prev_labels, prev_images), {}

    def flow_terms(self, batch, t, out):
        terms = super().flow_terms(batch, t, out)
        warped = out.get("warped_image")
        if isinstance(warped, (list, tuple)) and warped[0] is not None:
            terms["flow/ref_warp"] = masked_l1(warped[0], batch["images"][:, t])
        return terms
