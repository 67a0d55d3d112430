"""Paired image-to-image training: label map → image (pix2pixHD, SPADE).

Losses (imaginaire's recipe): multi-scale GAN, discriminator feature matching, perceptual, KL of the
style encoder (SPADE with an image encoder), and an optional L1 to the real image (``l1``; off in the
papers' configs, useful for the tiny CPU configs whose perceptual network is a small fixed one).
"""

from __future__ import annotations

import torch

from ..losses import discriminator_loss, feature_matching_loss, generator_loss, kl_loss, wide
from .base import Trainer
from .calls import conditional_discriminator, paired_generator_call


class PairedImageTrainer(Trainer):
    """Batches hold ``label`` (B,C,H,W network input) and ``images`` (B,3,H,W in [-1, 1])."""

    default_loss_weights = {"gan": 1.0, "feature_matching": 10.0, "perceptual": 0.0, "kl": 0.05, "l1": 0.0}

    def generator_call(self):
        return paired_generator_call(self.cfg.model)

    def discriminator_call(self):
        return conditional_discriminator

    def discriminator_losses(self, batch):
        with torch.no_grad():
            fake = self.G_plain(batch)["fake_images"].detach()
        real_out = self.D(batch, batch["images"])
        fake_out = self.D(batch, fake)
        return {"gan": discriminator_loss(real_out, fake_out, self.cfg.trainer.gan_mode)}

    def generator_losses(self, batch):
        out = self.G(batch)
        fake = out["fake_images"]
        fake_out = self.D_plain(batch, fake)
        terms = {"gan": generator_loss(fake_out, self.cfg.trainer.gan_mode)}
        if self.weights.get("feature_matching", 0) > 0:
            with torch.no_grad():
                real_out = self.D_plain(batch, batch["images"])
            terms["feature_matching"] = feature_matching_loss(fake_out, real_out)
        if self.perceptual is not None:
            terms["perceptual"] = self.perceptual(fake, batch["images"])
        if out.get("mu") is not None and self.weights.get("kl", 0) > 0:
            terms["kl"] = kl_loss(out["mu"], out["logvar"])
        if self.weights.get("l1", 0) > 0:
            terms["l1"] = (wide(fake) - wide(batch["images"])).abs().mean()
        return terms

    def sample_images(self, batch):
        fake = self.ema_forward()(batch)["fake_images"]
        return {"real": batch["images"], "fake": fake}
