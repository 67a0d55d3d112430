"""Unpaired image-to-image training between two domains (UNIT, MUNIT).

Per domain, a discriminator on images alone. Generator losses (imaginaire's recipe): GAN on both
translations, within-domain image reconstruction, cycle reconstruction, and for MUNIT the content and
style code reconstructions; perceptual optional.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import discriminator_loss, generator_loss
from .base import Trainer
from .calls import domain_discriminator, unpaired_generator


class UnpairedImageTrainer(Trainer):
    """Batches hold ``images_a`` and ``images_b`` (B,3,H,W in [-1, 1]); the discriminator is a ModuleDict
    {'a': D_a, 'b': D_b}."""

    default_loss_weights = {"gan": 1.0, "image_recon": 10.0, "cycle_recon": 10.0, "content_recon": 1.0,
                            "style_recon": 1.0, "perceptual": 0.0}

    def generator_call(self):
        return unpaired_generator

    def discriminator_call(self):
        return domain_discriminator

    def discriminator_losses(self, batch):
        with torch.no_grad():
            out = self.G_plain(batch)
        mode = self.cfg.trainer.gan_mode
        loss_a = discriminator_loss(self.D(batch["images_a"], "a"), self.D(out["images_ba"].detach(), "a"), mode)
        loss_b = discriminator_loss(self.D(batch["images_b"], "b"), self.D(out["images_ab"].detach(), "b"), mode)
        return {"gan": loss_a + loss_b}

    def generator_losses(self, batch):
        out = self.G(batch)
        mode = self.cfg.trainer.gan_mode
        a, b = batch["images_a"], batch["images_b"]
        terms = {"gan": generator_loss(self.D_plain(out["images_ba"], "a"), mode)
                 + generator_loss(self.D_plain(out["images_ab"], "b"), mode)}
        if "images_aa" in out:
            terms["image_recon"] = F.l1_loss(out["images_aa"], a) + F.l1_loss(out["images_bb"], b)
        if "images_aba" in out and self.weights.get("cycle_recon", 0) > 0:
            terms["cycle_recon"] = F.l1_loss(out["images_aba"], a) + F.l1_loss(out["images_bab"], b)
        if "content_ab" in out and self.weights.get("content_recon", 0) > 0:
            terms["content_recon"] = (F.l1_loss(out["content_ab"], out["content_a"].detach())
                                      + F.l1_loss(out["content_ba"], out["content_b"].detach()))
        if "style_ab" in out and self.weights.get("style_recon", 0) > 0:
            terms["style_recon"] = (F.l1_loss(out["style_ab"], out["style_b_rand"])
                                    + F.l1_loss(out["style_ba"], out["style_a_rand"]))
        if self.perceptual is not None:
            terms["perceptual"] = self.perceptual(out["images_ab"], a) + self.perceptual(out["images_ba"], b)
        return terms

    def sample_images(self, batch):
        out = self.ema_forward()(batch)
        return {"a": batch["images_a"], "a2b": out["images_ab"], "b": batch["images_b"], "b2a": out["images_ba"]}
