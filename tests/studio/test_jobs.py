"""The Live view's jobs come from the job layer; the form's strings become each job's typed options."""

import pytest

from vidsynth.engine.jobs import JOB_MODULES
from vidsynth.engine.studio.jobs import available_jobs, describe_fields, make_options, shipped_models
from vidsynth.errors import VidsynthError


def test_jobs_are_read_from_the_job_layer():
    jobs = available_jobs()
    assert {"extract", "render"} <= set(jobs) <= set(JOB_MODULES)
    assert "studio" not in jobs and "demo" not in jobs  # the studio itself, and a job without an input
    fields = {f["name"]: f for f in describe_fields(jobs["render"].Options)}
    assert fields["model"]["kind"] == "model" and fields["input"]["kind"] == "source"
    assert fields["reference"]["kind"] == "upload" and fields["model"]["required"]
    assert not {"output", "preview", "progress", "resume", "mode"} & set(fields)  # the studio sets those


def test_form_values_become_typed_options():
    job = available_jobs()["render"]
    options = make_options(job, {"model": "demo:spade", "input": "synthetic:street", "hfov": "75", "a2b": "false"})
    assert options.hfov == 75.0 and options.a2b is False
    assert options.output == "null" and options.mode == "live" and options.progress is False
    with pytest.raises(VidsynthError, match="hfov expects a float"):
        make_options(job, {"model": "demo:spade", "input": "x", "hfov": "wide"})
    with pytest.raises(VidsynthError, match="no option"):
        make_options(job, {"model": "demo:spade", "input": "x", "rm_rf": "1"})
    with pytest.raises(VidsynthError, match="needs input"):
        make_options(job, {"model": "demo:spade"})


def test_shipped_models_say_which_paint_labels():
    models = {m["name"]: m for m in shipped_models()}
    assert models["spade_street_128"]["canvas"] and models["spade_street_128"]["num_classes"] == 35
    assert not models["vid2vid_street_128"]["canvas"]  # a video model: Live, not the canvas
