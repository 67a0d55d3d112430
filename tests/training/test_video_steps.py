"""vid2vid trained a few frames per step (``trainer.video.frames_per_backward``, imaginaire's schedule):
each step goes on from the outputs the step before generated, so with the weights held still the losses
are those of the whole sequence in one step, every term included (also for fs-vid2vid, whose references
each step encodes again)."""

import pytest

from vidsynth.training import checkpoint as ckpt
from vidsynth.training import run
from vidsynth.training.config import load_config
from vidsynth.training.synthetic_data import write_street_dataset

SIZE = 32


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    return write_street_dataset(str(tmp_path_factory.mktemp("street")), starts=[0.0, 40.0], frames=4, size=SIZE,
                                unprojections=True)


def _config(model: str, frames_per_backward: int, lr: float):
    cfg = load_config(f"{model}_street_tiny" if model == "vid2vid" else "wc_vid2vid_tiny")
    cfg.data.crop_size, cfg.generator["output_size"] = [SIZE, SIZE], [SIZE, SIZE]
    cfg.data.batch_size, cfg.data.sequence_length, cfg.data.flip = 2, 4, False
    cfg.trainer.video.initial_frames = 4
    cfg.trainer.video.frames_per_backward = frames_per_backward
    # every per-frame term that needs earlier frames: the flow terms, the temporal loss, the temporal GAN
    cfg.trainer.loss_weights.update(temporal=10.0, temporal_gan=1.0, flow=10.0, l1=10.0)
    cfg.trainer.max_iter, cfg.trainer.checkpoint_every = 1, 1
    cfg.trainer.ema.enabled = False
    cfg.discriminator["weight_norm"] = "none"  # spectral norm's power iteration moves at every forward, lr 0 or not
    for opt in (cfg.gen_opt, cfg.dis_opt):
        opt.type, opt.lr = "sgd", lr
    return cfg


@pytest.mark.parametrize("model", ["vid2vid", "wc_vid2vid"])
def test_steps_per_frame_go_on_from_the_earlier_frames(street, tmp_path, model):
    # lr 0: the weights stay, so every step of the per-frame schedule sees the sequence the one-step schedule
    # generates; any state lost between steps (previous frames, flow targets, temporal windows, guidance) shows
    whole = run(_config(model, 0, 0.0), street, str(tmp_path / "whole"), progress=False, device="cpu")["losses"]
    per_frame = run(_config(model, 1, 0.0), street, str(tmp_path / "frames"), progress=False, device="cpu")["losses"]
    assert set(per_frame) == set(whole)
    assert {"gen/flow/l1", "gen/temporal", "gen/temporal_gan", "dis/temporal_gan"} <= set(whole)
    if model == "wc_vid2vid":
        assert "gen/guidance" in whole
    for name, value in whole.items():
        # the temporal GAN judges the last 3 frames once in one step, and at every step from frame 3 on
        # per frame (so also frames 0-2): its terms and the totals differ by design
        if name.startswith("lr_") or "temporal_gan" in name or name.endswith("total"):
            continue
        assert per_frame[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_a_step_every_two_frames_steps_twice_per_sequence(street, tmp_path):
    cfg = _config("vid2vid", 2, 1e-3)
    for opt in (cfg.gen_opt, cfg.dis_opt):
        opt.type = "adam"  # Adam counts its steps
    result = run(cfg, street, str(tmp_path / "run"), progress=False, device="cpu")
    state = ckpt.load_checkpoint(str(tmp_path / "run"))
    assert state["iteration"] == 1 and all(v == v for v in result["losses"].values())
    # 4 frames, 2 per step: 2 steps; the flow head only learns in the second (the first two frames have no warp)
    assert max(float(s["step"]) for s in state["opt_G"]["state"].values()) == 2.0
    assert min(float(s["step"]) for s in state["opt_G"]["state"].values()) == 1.0
    # the image discriminator steps twice, the temporal one once (3 frames exist only at the second step)
    assert {float(s["step"]) for s in state["opt_D"]["state"].values()} == {1.0, 2.0}


@pytest.mark.parametrize("most,grid", [(0.0, 0), (0.5, 0), (0.5, 4)])
def test_previous_noise_perturbs_the_fed_back_frames_only(street, tmp_path, most, grid):
    from torch.nn.modules.module import register_module_forward_hook

    from vidsynth.networks.vid2vid import Vid2VidGenerator

    cfg = _config("vid2vid", 0, 0.0)
    cfg.trainer.video.previous_noise, cfg.trainer.video.previous_noise_grid = most, grid
    calls = []
    handle = register_module_forward_hook(
        lambda m, args, out: calls.append((args, out["image"].detach())) if isinstance(m, Vid2VidGenerator) else None)
    try:
        run(cfg, street, str(tmp_path / "run"), progress=False, device="cpu")
    finally:
        handle.remove()
    # one iteration: the discriminator's pass and the generator's, 4 frames each; then the sample images'
    assert len(calls) == 12 and all(args[2] is None for args, _ in calls[::4])
    for first in (0, 4, 8):
        for t in range(1, 4):
            fed_back = calls[first + t][0][2][:, -1]  # the newest previous frame the generator got at frame t
            added = fed_back - calls[first + t - 1][1]
            noise = added.flatten(1).std(1)  # per sequence
            if most == 0 or first == 8:  # sample images run as inference does
                assert float(noise.max()) == 0.0
            else:  # each sequence has its own std in [0, most]
                assert 0.0 < float(noise.min()) and float(noise.max()) <= most * 1.05
                assert float((noise[0] - noise[1]).abs()) > 1e-3
                # per pixel, neighbours differ as much as two draws do; on a 4×4 grid over 32 pixels, barely
                step = float((added[..., 1:] - added[..., :-1]).std() / added.std())
                assert step > 1.2 if grid == 0 else step < 0.3


def test_few_shot_steps_per_frame_encode_the_references_for_each_step(tmp_path):
    # fs-vid2vid's references are encoded into the generator's state with gradients; each step's backward frees
    # that graph, so every later step encodes them again (the same values: its losses are the one-step ones)
    from vidsynth.training.synthetic_data import write_puppet_dataset

    data = write_puppet_dataset(str(tmp_path / "puppet"), sequences=1, frames=3, size=SIZE)
    losses = {}
    for k in (0, 1):
        cfg = load_config("fs_vid2vid_pose_tiny")
        cfg.data.crop_size, cfg.generator["output_size"], cfg.data.resize_short = [SIZE, SIZE], [SIZE, SIZE], SIZE
        cfg.data.sequence_length = cfg.trainer.video.initial_frames = 3
        cfg.trainer.video.frames_per_backward = k
        cfg.trainer.max_iter, cfg.trainer.ema.enabled = 1, False
        cfg.discriminator["weight_norm"] = "none"
        for opt in (cfg.gen_opt, cfg.dis_opt):
            opt.type, opt.lr = "sgd", 0.0
        losses[k] = run(cfg, data, str(tmp_path / f"run{k}"), progress=False, device="cpu")["losses"]
    assert {"gen/flow/ref_warp", "gen/flow/warp"} <= set(losses[0])
    for name, value in losses[0].items():
        assert losses[1][name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
