"""What is trained is what is streamed: the video trainer's pass over T frames and T calls of the model's own
``step`` (as the engine makes them) give bit-identical frames, flows and final state in float64, for
vid2vid, wc-vid2vid (guidance from the sequence's world) and fs-vid2vid (references in the state)."""

import copy

import pytest
import torch

from vidsynth.training.config import load_config
from vidsynth.training.datasets import build_dataset
from vidsynth.training.guidance import SequenceGuidance
from vidsynth.training.launch import default_dtype
from vidsynth.training.models import build_networks, trainer_class
from vidsynth.training.synthetic_data import write_puppet_dataset, write_street_dataset
from vidsynth.training.trainers.base import to_device

SIZE, FRAMES = 32, 4


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("video_steps")
    return {"street": write_street_dataset(str(root / "street"), starts=[0.0], frames=FRAMES, size=SIZE,
                                           unprojections=True),
            "puppet": write_puppet_dataset(str(root / "puppet"), sequences=1, frames=FRAMES, size=SIZE)}


CONFIGS = {"vid2vid": ("vid2vid_street_tiny", "street"), "wc_vid2vid": ("wc_vid2vid_tiny", "street"),
           "fs_vid2vid": ("fs_vid2vid_pose_tiny", "puppet")}


def _trainer(model: str, data: dict, out: str):
    name, folder = CONFIGS[model]
    cfg = load_config(name)
    cfg.data.crop_size, cfg.generator["output_size"] = [SIZE, SIZE], [SIZE, SIZE]
    cfg.data.resize_short = SIZE
    cfg.data.batch_size, cfg.data.sequence_length, cfg.data.flip = 1, FRAMES, False
    cfg.trainer.video.initial_frames = FRAMES
    cfg.trainer.float64 = True
    dataset = build_dataset(data[folder], cfg.data, seed=0, train=True, **trainer_class(cfg.model).dataset_options)
    torch.manual_seed(0)
    generator, discriminator = build_networks(cfg, dataset)
    trainer = trainer_class(cfg.model)(cfg, generator, discriminator, dataset, out, progress=False)
    batch = to_device(trainer.collate([dataset[0]]), trainer.device, torch.float64)
    return trainer, batch


def _streamed(model, batch) -> list[dict]:
    """T inference steps as a stream makes them: the model's initial state, then one ``step`` per frame."""
    n = batch["label"].shape[0]
    if "ref_images" in batch:
        state = model.initial_state(model.encode_references(batch["ref_images"], batch["ref_label"]))
    else:
        state = model.initial_state(batch_size=n)
    world = SequenceGuidance(batch["points"]) if "points" in batch else None
    outs = []
    for t in range(batch["label"].shape[1]):
        conditions = {"label": batch["label"][:, t]}
        if world is not None:
            conditions["guidance"] = world.guidance(t)
        out, state = model.step(conditions, state)
        if world is not None:
            world.update(t, out["image"])
        outs.append(out)
    return outs, state


@pytest.mark.parametrize("model", sorted(CONFIGS))
def test_training_pass_equals_streamed_steps(model, data, tmp_path):
    with default_dtype(torch.float64):
        trainer, batch = _trainer(model, data, str(tmp_path))
        net = trainer.G_raw
        assert next(net.parameters()).dtype == torch.float64 and batch["label"].dtype == torch.float64
        streamed_net = copy.deepcopy(net)  # same weights, same mode (train), same norm statistics
        trained, final = [], {}
        step = type(net).step

        def spy(self, conditions, state, **hooks):  # the trainer's own calls, recorded
            out, new = step(self, conditions, state, **hooks)
            final.update(new)
            return out, new

        net.step = spy.__get__(net)
        trained = trainer.generate_sequence(trainer.G, batch)  # the generator's pass of a training step
        del net.step
        streamed, state = _streamed(streamed_net, batch)

    assert len(trained) == len(streamed) == FRAMES
    assert "flow" in streamed[-1] and trained[-1]["image"].requires_grad  # the flow path ran; a real training pass
    for t, (a, b) in enumerate(zip(trained, streamed)):
        keys = set(b) | ({"guidance"} if model == "wc_vid2vid" else set())
        assert set(a) == keys, t
        for key in b:
            assert torch.equal(a[key], b[key]), (t, key)
    assert set(final) == set(state)
    for key in state:
        assert torch.equal(final[key], state[key]), key
    if model == "wc_vid2vid":  # the guidance the last frame saw came from the generated frames before it
        assert float(trained[-1]["guidance"][:, 3].mean()) > 0
