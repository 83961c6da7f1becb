"""The demo's HTML report in headless Chromium (Debian's, `make chromium`): the page renders
every section and its plots, and a full-page screenshot of it is not blank."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HEADLESS = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium: run make chromium"),
]


def test_the_report_renders_in_chromium(demo_run, tmp_path) -> None:
    page = Path(demo_run.report).with_suffix(".html").as_uri()
    dom = subprocess.run([*HEADLESS, "--dump-dom", page], check=True, capture_output=True,
                         text=True, timeout=120).stdout  # fmt: skip
    assert len(re.findall(r'<section id="\w+">', dom)) == 10
    assert dom.count('src="data:image/png;base64,') >= 6  # the plots, inline
    shot = tmp_path / "report.png"
    subprocess.run([*HEADLESS, "--window-size=1280,6000", f"--screenshot={shot}", page],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (6000, 1280) and float(np.std(pixels[..., :3])) > 0.05
