"""Few-shot, class-conditional image translation (FUNIT, COCO-FUNIT).

The discriminator scores an image for a class (projection). Losses (imaginaire's recipe): GAN on the
translation (scored for the style's class) and on the reconstruction (for the content's class), L1
image reconstruction, and feature matching between the pooled discriminator features of the
translation and of the style image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import discriminator_loss, generator_loss
from .base import Trainer
from .calls import few_shot_generator, projection_discriminator


class FewShotImageTrainer(Trainer):
    """Batches hold ``images_content``/``labels_content`` and ``images_style``/``labels_style``."""

    default_loss_weights = {"gan": 1.0, "feature_matching": 1.0, "image_recon": 0.1}

    def generator_call(self):
        return few_shot_generator

    def discriminator_call(self):
        return projection_discriminator

    @staticmethod
    def _style(batch):
        s = batch["images_style"]
        return s[:, 0] if s.dim() == 5 else s

    def discriminator_losses(self, batch):
        with torch.no_grad():
            out = self.G_plain(batch)
        mode = self.cfg.trainer.gan_mode
        real, _ = self.D(self._style(batch), batch["labels_style"])
        fake, _ = self.D(out["images_trans"].detach(), batch["labels_style"])
        real_c, _ = self.D(batch["images_content"], batch["labels_content"])
        fake_c, _ = self.D(out["images_recon"].detach(), batch["labels_content"])
        return {"gan": 0.5 * (discriminator_loss(real, fake, mode) + discriminator_loss(real_c, fake_c, mode))}

    def generator_losses(self, batch):
        out = self.G(batch)
        mode = self.cfg.trainer.gan_mode
        trans, trans_feat = self.D_plain(out["images_trans"], batch["labels_style"])
        recon, recon_feat = self.D_plain(out["images_recon"], batch["labels_content"])
        terms = {"gan": 0.5 * (generator_loss(trans, mode) + generator_loss(recon, mode)),
                 "image_recon": F.l1_loss(out["images_recon"], batch["images_content"])}
        if self.weights.get("feature_matching", 0) > 0:
            with torch.no_grad():
                _, style_feat = self.D_plain(self._style(batch), batch["labels_style"])
                _, content_feat = self.D_plain(batch["images_content"], batch["labels_content"])
            terms["feature_matching"] = F.l1_loss(trans_feat, style_feat) + F.l1_loss(recon_feat, content_feat)
        return terms

    def sample_images(self, batch):
        out = self.ema_forward()(batch)
        return {"content": batch["images_content"], "style": self._style(batch), "translation": out["images_trans"]}
