"""wc-vid2vid trains with guidance: unprojections are read as point maps, the training guidance is the
guidance inference gives, and the guidance loss trains the generator's guidance path."""

import os
import shutil

import numpy as np
import pytest
import torch

from vidsynth.errors import VidsynthError
from vidsynth.geometry.imaginaire_unprojection import UnprojectionGuidance, read_unprojection
from vidsynth.training import checkpoint as ckpt
from vidsynth.training import run
from vidsynth.training.config import DataConfig, load_config
from vidsynth.training.datasets import build_dataset
from vidsynth.training.guidance import SequenceGuidance
from vidsynth.training.launch import seed_everything
from vidsynth.training.models import build_networks
from vidsynth.training.synthetic_data import write_street_dataset

SIZE = 32
SKY = 23  # Cityscapes id


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    return write_street_dataset(str(tmp_path_factory.mktemp("street")), starts=[0.0, 40.0], frames=4, size=SIZE,
                                unprojections=True)


def _videos(root, train=False, **kw):
    cfg = DataConfig(type="paired_videos", num_classes=35, crop_size=[SIZE, SIZE], sequence_length=4, **kw)
    return build_dataset(root, cfg, train=train, with_unprojections=True)


def _mapping(path):
    return read_unprojection(path)[f"w{SIZE}xh{SIZE}"]


def test_unprojections_become_point_maps(street):
    ds = _videos(street)
    example = ds[0]
    points, labels = example["points"], example["label"].argmax(1)
    assert points.shape == (4, SIZE, SIZE) and points.dtype == torch.int64
    assert torch.equal(points < 0, labels == SKY)  # every surface pixel has a point, the sky none
    assert int(points.max()) + 1 == len(torch.unique(points[points >= 0]))  # numbered 0..n-1
    # the same 3D point in two frames keeps one number: the maps agree with the files up to renumbering
    raw = np.full((4, SIZE, SIZE), -1, np.int64)
    for t in range(4):
        m = _mapping(os.path.join(street, "unprojections", "seq000", f"{t:06d}.pkl"))
        raw[t, m[:, 0], m[:, 1]] = m[:, 2]
    pairs = {(int(a), int(b)) for a, b in zip(raw[raw >= 0], points.numpy()[raw >= 0])}
    assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})
    assert (raw[1:][raw[1:] >= 0][:, None] == raw[0][raw[0] >= 0][None]).any(1).mean() > 0.1  # points recur
    # vid2vid leaves the folder alone
    cfg = DataConfig(type="paired_videos", num_classes=35, crop_size=[SIZE, SIZE], sequence_length=4)
    assert "points" not in build_dataset(street, cfg, train=False)[0]


def test_flipped_examples_flip_their_point_maps(street):
    plain = _videos(street)[0]
    flips = _videos(street, train=True, flip=True)
    for epoch in range(8):  # find an epoch whose draw flips example 0
        flips.set_epoch(epoch)
        flipped = flips[0]
        if torch.equal(flipped["images"], plain["images"].flip(-1)):
            break
    else:
        pytest.fail("no epoch flipped example 0")
    same = flipped["points"] >= 0
    assert torch.equal(same, (plain["points"] >= 0).flip(-1))
    # renumbered per example, so compare which pixels share a point
    a, b = flipped["points"][same], plain["points"].flip(-1)[same]
    assert len({(int(x), int(y)) for x, y in zip(a, b)}) == len(torch.unique(a))


def test_training_guidance_is_what_inference_gives(street):
    """Frame by frame, the batched training guidance equals inference's UnprojectionGuidance on the same
    files and the same generated frames."""
    ds = _videos(street)
    batch = torch.stack([ds[0]["points"], ds[len(ds) - 1]["points"]])
    seqs = ["seq000", sorted(os.listdir(os.path.join(street, "unprojections")))[-1]]
    train = SequenceGuidance(batch)
    infer = [UnprojectionGuidance() for _ in seqs]
    gen = torch.Generator().manual_seed(0)
    shown = 0.0
    for t in range(4):
        g = train.guidance(t)
        maps = [_mapping(os.path.join(street, "unprojections", s, f"{t:06d}.pkl")) for s in seqs]
        for b, (world, m) in enumerate(zip(infer, maps)):
            torch.testing.assert_close(g[b:b + 1], world.guidance(m, SIZE, SIZE), rtol=0, atol=0)
        shown += float(g[:, 3].mean())
        frames = torch.rand(2, 3, SIZE, SIZE, generator=gen) * 2 - 1
        train.update(t, frames)
        for b, (world, m) in enumerate(zip(infer, maps)):
            world.update(frames[b:b + 1], m)
    assert shown > 0.5  # later frames do see earlier colours


def test_wc_vid2vid_trains_its_guidance_path(street, tmp_path):
    """With unprojections the guidance loss is on and the convolutions that read the guidance learn;
    without them (plain vid2vid training) those never move."""
    cfg = load_config("wc_vid2vid_tiny")
    cfg.data.crop_size = [SIZE, SIZE]
    cfg.data.batch_size = 1
    cfg.data.sequence_length = 4
    cfg.trainer.video.initial_frames = 4
    cfg.trainer.ema.enabled = False
    cfg.trainer.checkpoint_every = 3

    def train(data, out):
        return run(cfg, data, out, progress=False, max_iter=3), ckpt.load_checkpoint(out)["generator"]

    seed_everything(cfg.trainer.seed)  # the run's own initialisation
    initial = build_networks(cfg)[0].state_dict()

    guided, g_weights = train(street, str(tmp_path / "guided"))
    assert guided["losses"]["gen/guidance"] > 0, guided["losses"]
    plain_data = str(tmp_path / "plain")
    shutil.copytree(street, plain_data, ignore=shutil.ignore_patterns("unprojections"))
    plain, p_weights = train(plain_data, str(tmp_path / "plain_run"))
    assert "gen/guidance" not in plain["losses"]

    only_guided = [k for k in initial if torch.equal(p_weights[k], initial[k]) and not torch.equal(g_weights[k], initial[k])]
    convs = {k.rsplit(".", 1)[0] for k in only_guided}
    assert len(convs) >= 4, only_guided
    # each is a 1x1 convolution over a 4-channel input: the guidance (RGB + mask)
    assert all(initial[c + ".weight"].shape[1:] == (4, 1, 1) for c in convs), only_guided


def test_unprojections_must_match_the_frames(street, tmp_path):
    data = str(tmp_path / "data")
    shutil.copytree(street, data)
    os.remove(os.path.join(data, "unprojections", "seq001", "000002.pkl"))
    with pytest.raises(VidsynthError, match="unprojections"):
        _videos(data)
    with open(os.path.join(data, "unprojections", "seq001", "000002.pkl"), "wb") as f:
        f.write(b"not a pickle")
    with pytest.raises(VidsynthError, match="000002.pkl"):
        _videos(data)[len(_videos(data)) - 1]


RAW_WC = "/work/imaginaire/dataset/unit_test/raw/wc_vid2vid/cityscapes"


@pytest.mark.skipif(not os.path.isdir(RAW_WC), reason="imaginaire's unit-test data is not on this machine")
def test_imaginaire_unprojections_read_and_train(tmp_path):
    cfg = load_config("wc_vid2vid_tiny")
    cfg.data.crop_size, cfg.data.resize_short = [64, 128], 64
    cfg.data.batch_size, cfg.data.sequence_length = 1, 3
    cfg.trainer.video.initial_frames = 3
    # a frame scaled to 128x64 reads the file's w128xh64 entry as it is: one pixel per point
    example = build_dataset(RAW_WC, cfg.data, train=False, with_unprojections=True)[0]
    files = sorted(os.listdir(os.path.join(RAW_WC, "unprojections", "seq0000")))[:3]
    for t, name in enumerate(files):
        entry = read_unprojection(os.path.join(RAW_WC, "unprojections", "seq0000", name))["w128xh64"]
        assert int((example["points"][t] >= 0).sum()) == len(entry)
    result = run(cfg, RAW_WC, str(tmp_path / "run"), progress=False, max_iter=1)
    assert result["losses"]["gen/guidance"] > 0, result["losses"]
