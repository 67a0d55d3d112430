"""Video training (vid2vid, wc-vid2vid, few-shot vid2vid): sequences generated frame by frame.

Each iteration generates a sequence the way inference does, through the generator's own streaming
``step(conditions, state)`` (so what is trained is what is streamed): frame t from its label and the
previous ``num_frames_G - 1`` labels and generated frames (detached, as vid2vid trains), fs-vid2vid's
references encoded once per sequence into the state, wc-vid2vid's style code drawn once per sequence and
its guidance a per-frame condition — and sums per-frame
losses: image GAN on (label, frame), feature matching, perceptual, the flow terms (the predicted flow
against the ground-truth flow where the data has one, the previous real frame warped by the predicted
flow against the current one, the occlusion mask against where that warp is right), an optional
temporal consistency term, the temporal GAN on ``temporal_frames`` consecutive frames, and for
wc-vid2vid the guidance term. Progressive training: the sequence starts at ``video.initial_frames``
frames and doubles every ``video.double_every`` iterations up to ``data.sequence_length``. By default
one discriminator and one generator step take the whole sequence; ``video.frames_per_backward`` = k
steps every k frames instead (imaginaire's vid2vid: k = 1), each step going on from the outputs the
steps before it generated. ``video.previous_noise`` adds noise to the frames fed back (drawn afresh for
each sequence and each of its steps; the step's ``fed_back`` hook), so the recurrence learns not to trust
its own outputs blindly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..losses import (discriminator_loss, feature_matching_loss, flow_l1_loss, generator_loss, masked_l1,
                      occlusion_mask_loss, temporal_loss, warp, wide)
from ..guidance import SequenceGuidance
from .base import Trainer
from .calls import split_batch, video_discriminator


@dataclass
class Carry:
    """What one step's frames hand to the next step's when a sequence is trained a few frames per step
    (``trainer.video.frames_per_backward``): the generator's state after the earlier frames (its fed-back
    frames detached) and the family's sequence state."""

    state: dict[str, torch.Tensor]
    sequence: object
    recent: list[torch.Tensor]  # the last generated frames, for the temporal terms


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
        self._span: tuple[int, int] | None = None  # the frames this step trains (None: the whole sequence)
        self._carry: Carry | None = None  # what the step before handed on (None at a sequence's first step)
        self._next_carry: Carry | None = None  # what this step hands on
        self._stepping = False  # inside train_step (not generating sample images)

    # --- steps per sequence ---------------------------------------------------------------------------

    def train_step(self, batch: dict) -> dict[str, float]:
        """One sequence. With ``frames_per_backward`` k > 0 (imaginaire's vid2vid takes k = 1), every k
        frames get their own discriminator and generator step, the later frames generated from the
        earlier ones' outputs, as inference does. The losses reported are the one-step schedule's: per-frame
        values summed over the sequence and divided by its length."""
        k = self.cfg.trainer.video.frames_per_backward
        n = min(self.num_frames, batch["label"].shape[1])
        self._stepping = True
        try:
            if k <= 0 or k >= n:
                return super().train_step(batch)
            sums: dict[str, float] = {}
            for start in range(0, n, k):
                self._span = (start, min(n, start + k))
                share = (self._span[1] - start) / n  # a step's losses are means over its frames
                for name, value in super().train_step(batch).items():
                    sums[name] = sums.get(name, 0.0) + value * share
                self._carry = self._next_carry
            return sums
        finally:
            self._span = self._carry = self._next_carry = None
            self._stepping = False

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

    # --- generation --------------------------------------------------------------------------------------

    def initial_state(self, net, batch) -> dict[str, torch.Tensor]:
        """The generator's state at a sequence's first frame: the model's own :meth:`initial_state`."""
        return net.initial_state(batch_size=batch["label"].shape[0])

    def refreshed_state(self, net, batch, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` carried over from an earlier step of the sequence, ready for this step's pass: what was
        computed with gradients (fs-vid2vid's reference encoding) is computed again, since the earlier
        step's backward has freed its graph."""
        return state

    def frame_conditions(self, batch, t: int, sequence=None) -> dict[str, torch.Tensor]:
        """The generator's per-frame conditions for frame t; ``sequence`` is what :meth:`begin_sequence` returned."""
        return {"label": batch["label"][:, t]}

    def begin_sequence(self, batch):
        """What a family keeps besides the generator's state while one batch of sequences is generated
        (None: nothing)."""
        return None

    def end_frame(self, sequence, t: int, out: dict, conditions: dict) -> None:
        """Frame t was generated (``out``) from ``conditions``; a family updates its ``sequence`` here."""

    def _frames(self, batch, num_frames: int) -> range:
        """The frames this step generates and trains."""
        start, end = self._span or (0, num_frames)
        return range(start, min(end, batch["label"].shape[1]))

    def _generate(self, net, batch, num_frames: int) -> list[dict]:
        frames, carry = self._frames(batch, num_frames), self._carry
        if frames.start > 0:  # go on from the frames an earlier step generated
            state, sequence = self.refreshed_state(net, batch, carry.state), copy.deepcopy(carry.sequence)
        else:
            state, sequence = self.initial_state(net, batch), self.begin_sequence(batch)
        outs, fed_back = [], self._fed_back_hook(batch)
        for t in frames:
            conditions = self.frame_conditions(batch, t, sequence)
            out, state = net.step(conditions, state, fed_back=fed_back)
            self.end_frame(sequence, t, out, conditions)
            outs.append(out)
        if self._span is not None:  # both of a step's passes start from the same state; the next step takes the end
            keep = self.cfg.trainer.video.temporal_frames - 1
            recent = self._earlier(frames) + [o["image"].detach() for o in outs]
            self._next_carry = Carry(state, sequence, recent[-keep:] if keep > 0 else [])
        return outs

    def _fed_back_hook(self, batch) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The step's ``fed_back`` hook for this sequence: its noise on every generated frame the next frames
        see (None without ``previous_noise``)."""
        std = self._sequence_noise(batch)
        return None if std is None else (lambda image: self._fed_back(image, std))

    def _sequence_noise(self, batch) -> torch.Tensor | None:
        """Each sequence's noise std for its fed-back frames (B,1,1,1); None without ``previous_noise`` and
        outside the training steps (sample images run as inference does)."""
        most = self.cfg.trainer.video.previous_noise
        if most <= 0 or not self._stepping:
            return None
        label = batch["label"]
        return torch.rand(label.shape[0], 1, 1, 1, device=label.device) * most

    def _fed_back(self, image: torch.Tensor, std: torch.Tensor | None) -> torch.Tensor:
        """A generated frame as the next frames get it: with the sequence's noise, per pixel or, with
        ``previous_noise_grid`` n, drawn on an n×n grid and upsampled (smooth errors, like wrong colours)."""
        if std is None:
            return image
        grid = self.cfg.trainer.video.previous_noise_grid
        if grid > 0:
            coarse = torch.randn(*image.shape[:2], grid, grid, device=image.device, dtype=image.dtype)
            noise = F.interpolate(coarse, size=image.shape[-2:], mode="bilinear", align_corners=True)
        else:
            noise = torch.randn_like(image)
        return image + noise * std.to(image.dtype)

    def _earlier(self, frames: range) -> list[torch.Tensor]:
        """Generated frames just before ``frames`` that an earlier step of this sequence made (detached)."""
        return self._carry.recent if frames.start > 0 else []

    def _temporal_pair(self, batch, frames: range, fakes: list[torch.Tensor]):
        """(real, fake) sequences of the last ``temporal_frames`` frames up to this step's last, earlier
        steps' outputs included; None while the sequence is shorter."""
        fakes = self._earlier(frames) + fakes
        k = self.cfg.trainer.video.temporal_frames
        if not self._temporal_on() or len(fakes) < k:
            return None
        reals = [batch["images"][:, t] for t in range(frames.stop - k, frames.stop)]
        return torch.cat(reals, dim=1), torch.cat(fakes[-k:], dim=1)

    def generate_sequence(self, G, batch) -> list[dict]:
        """This step's frames (all ``num_frames`` of the sequence, or the few ``frames_per_backward`` gives)
        generated as inference does, through ``G`` (a :class:`Forward`)."""
        return G(batch, self.num_frames)

    def _temporal_on(self) -> bool:
        return self.weights.get("temporal_gan", 0) > 0 and "temporal" in getattr(self.D_raw, "keys", lambda: [])()

    # --- losses ---------------------------------------------------------------------------------------------

    def _d_inputs(self, batch, frames: range, images: list[torch.Tensor]) -> torch.Tensor:
        """(label_t, image_t) pairs of the step's frames, stacked along the batch: one discriminator call."""
        return torch.cat([torch.cat([batch["label"][:, t], f], dim=1) for t, f in zip(frames, images)], dim=0)

    def discriminator_losses(self, batch):
        with torch.no_grad():
            outs = self.generate_sequence(self.G_plain, batch)
        mode = self.cfg.trainer.gan_mode
        frames = self._frames(batch, self.num_frames)
        real = [batch["images"][:, t] for t in frames]
        fake = [o["image"].detach() for o in outs]
        pair = self._temporal_pair(batch, frames, fake)
        temporal = torch.cat(pair, dim=0) if pair is not None else None
        # one forward through the (DDP-wrapped) discriminator: real and fake stacked, split after
        image_out, temporal_out = self.D(torch.cat([self._d_inputs(batch, frames, real),
                                                    self._d_inputs(batch, frames, fake)]), temporal)
        real_out, fake_out = split_batch(image_out, 2)
        terms = {"gan": discriminator_loss(real_out, fake_out, mode)}
        if temporal_out is not None:
            t_real, t_fake = split_batch(temporal_out, 2)
            terms["temporal_gan"] = discriminator_loss(t_real, t_fake, mode)
        return terms

    def flow_terms(self, batch, t, out) -> dict[str, torch.Tensor]:
        """vid2vid's flow losses for frame t (t ≥ 1) from the flow that warps the previous frame."""
        flow, mask = out.get("flow"), out.get("occlusion_mask")  # fs-vid2vid's reference flow is reference_flow
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
        frames = self._frames(batch, self.num_frames)
        fakes = [o["image"] for o in outs]
        reals = [batch["images"][:, t] for t in frames]
        fake_out, _ = self.D_plain(self._d_inputs(batch, frames, fakes))
        sums["gan"] = generator_loss(fake_out, mode) * n
        if self.weights.get("feature_matching", 0) > 0:
            with torch.no_grad():
                real_out, _ = self.D_plain(self._d_inputs(batch, frames, reals))
            sums["feature_matching"] = feature_matching_loss(fake_out, real_out) * n
        earlier = self._earlier(frames)
        for i, (t, out) in enumerate(zip(frames, outs)):
            fake, real = out["image"], reals[i]
            prev_fake = outs[i - 1]["image"] if i > 0 else (earlier[-1] if earlier else None)
            if self.perceptual is not None:
                add("perceptual", self.perceptual(fake, real))
            if self.weights.get("l1", 0) > 0:
                add("l1", (wide(fake) - wide(real)).abs().mean())
            if self.weights.get("flow", 0) > 0:
                for k, v in self.flow_terms(batch, t, out).items():
                    add(k, v)
            if prev_fake is not None and self.weights.get("temporal", 0) > 0 and "flow" in batch:
                gt = batch["flow"][:, t]
                valid = gt[:, 2:3] if gt.shape[1] > 2 else None
                add("temporal", temporal_loss(prev_fake, fake, gt[:, :2], valid))
            if self.weights.get("guidance", 0) > 0 and out.get("guidance") is not None:
                add("guidance", masked_l1(fake, out["guidance"][:, :3], out["guidance"][:, 3:]))
        terms = {k: v / n for k, v in sums.items()}
        pair = self._temporal_pair(batch, frames, fakes)
        if pair is not None:
            real_seq, fake_seq = pair
            _, fake_t = self.D_plain(None, fake_seq)
            terms["temporal_gan"] = generator_loss(fake_t, mode)
            if self.weights.get("feature_matching", 0) > 0:
                with torch.no_grad():
                    _, real_t = self.D_plain(None, real_seq)
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
    model, when the generator has one, gets one random style code per sequence."""

    default_loss_weights = {**VideoTrainer.default_loss_weights, "guidance": 20.0}
    dataset_options = {"with_unprojections": True}

    def begin_sequence(self, batch):
        return SequenceGuidance(batch["points"]) if "points" in batch else None

    def initial_state(self, net, batch):
        # a single-image model for the first frames takes one random style code per sequence, as a stream does
        sim, n = getattr(net, "single_image_model", None), batch["label"].shape[0]
        z = torch.randn(n, sim.config.style_dims, device=self.device) if sim is not None else None
        return net.initial_state(single_image_z=z, batch_size=n)

    def frame_conditions(self, batch, t, sequence=None):
        conditions = super().frame_conditions(batch, t, sequence)
        if sequence is not None:
            conditions["guidance"] = sequence.guidance(t)
        return conditions

    def end_frame(self, sequence, t, out, conditions):
        if sequence is not None:
            out["guidance"] = conditions["guidance"]
            sequence.update(t, out["image"])


class FewShotVideoTrainer(VideoTrainer):
    """fs-vid2vid: every frame also sees the references (``ref_label``, ``ref_images``: B,K,...), encoded once
    per sequence into the generator's state as a stream does (imaginaire encodes them again at every frame:
    the same values, and the gradients add up the same); the reference warp is trained to reproduce the
    current frame."""

    def initial_state(self, net, batch):
        return net.initial_state(net.encode_references(batch["ref_images"], batch["ref_label"]))

    def refreshed_state(self, net, batch, state):
        fresh = self.initial_state(net, batch)
        return {**fresh, "prev_labels": state["prev_labels"], "prev_images": state["prev_images"]}

    def flow_terms(self, batch, t, out):
        terms = super().flow_terms(batch, t, out)
        if "reference_warped_image" in out:
            terms["flow/ref_warp"] = masked_l1(out["reference_warped_image"], batch["images"][:, t])
        return terms
