"""Without Chromium the studio's browser tests fail with the way to install it, never skip."""

import pytest

from vidsynth.engine.studio import browser
from vidsynth.errors import VidsynthError


def test_missing_chromium_names_make_setup(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.setattr(browser.os.path, "exists", lambda path: False)
    with pytest.raises(VidsynthError, match=r"chromium is missing; `make setup` installs them"):
        browser.open_browser()


def test_missing_driver_names_make_setup(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: "/usr/bin/chromium" if name == "chromium" else None)
    monkeypatch.setattr(browser.os.path, "exists", lambda path: False)
    with pytest.raises(VidsynthError, match=r"chromedriver .* is missing; `make setup`"):
        browser.find_chromium()


def test_the_makefile_installs_chromium_and_its_driver():
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "Makefile")) as f:
        assert "apt-get install -y -qq chromium chromium-driver" in f.read()
    with open(os.path.join(root, "requirements.txt")) as f:
        assert any(line.split("#")[0].strip() == "selenium" for line in f)
