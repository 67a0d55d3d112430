"""Fixtures for the studio tests: a studio on a free loopback port and one headless Chromium per module.

Chromium missing is a failure that says how to install it (``make setup``), never a skip.
"""

import pytest

from vidsynth.engine.studio import Studio, StudioConfig
from vidsynth.engine.studio import browser as page


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    s = Studio(StudioConfig(port=0, workdir=str(tmp_path_factory.mktemp("studio")), max_upload_mb=2))
    s.start()
    yield s
    s.close()


@pytest.fixture(scope="module")
def driver():
    d = page.open_browser()  # raises VidsynthError naming `make setup` when Chromium is missing
    yield d
    d.quit()
