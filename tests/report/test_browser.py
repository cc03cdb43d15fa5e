"""The report in a real browser: headless Chromium opens it from file:// (no server, no
network), draws something, and shows a sample holding markup as text.

Chromium is the Debian package `chromium`; `make` (scripts/install-data.sh) installs it when
run as root. As root the test requires it; as another user it is skipped with the command that
installs it.
"""

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from tests.report._runfolders import SCRIPT, train_run, write_csv

INSTALL = "sudo apt-get install -y --no-install-recommends chromium"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.geteuid() != 0:
        pytest.skip(f"headless Chromium is not installed; install it with `{INSTALL}` "
                    f"(or run `make` as root)")
    pytest.fail(f"headless Chromium is missing although the tests run as root: scripts/"
                f"install-data.sh installs it (`{INSTALL.removeprefix('sudo ')}`)")


def browse(*args, profile) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--host-resolver-rules=MAP * ~NOTFOUND", *args],  # nothing outside the machine
        capture_output=True, text=True, timeout=90)


def deepnotes(*args, cwd):
    p = subprocess.run([sys.executable, "-m", "deepnotes.cli", *args], capture_output=True,
                       text=True, cwd=cwd, timeout=300)
    assert p.returncode == 0, p.stderr
    return p


class Dom(HTMLParser):
    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.texts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.texts.append(data)


def test_report_opens_in_headless_chromium(tmp_path):
    chromium()  # first: skip or fail before any work
    runs = tmp_path / "runs"
    # one real quick run, and a second run of the same lesson made from it by hand (another
    # seed, other numbers, a sample holding markup), and a training run
    deepnotes("run", "linear-regression", "--quick", "--threads", "1", "--out", "runs/first",
              cwd=tmp_path)
    second = runs / "second"
    shutil.copytree(runs / "first", second)
    (second / "config.toml").write_text(
        (second / "config.toml").read_text().replace("seed = 0", "seed = 1"))
    summary = json.loads((second / "summary.json").read_text())
    summary["metrics"]["closed_form_mse"] *= 1.5
    samples = [{"prompt": "greet", "text": f"hello {SCRIPT} world"}]
    summary["tables"]["samples"] = samples
    write_csv(samples, second / "samples.csv")
    (second / "summary.json").write_text(json.dumps(summary))
    train_run(runs / "job")
    deepnotes("report", "runs", "--out", "report.html", cwd=tmp_path)
    url = (tmp_path / "report.html").resolve().as_uri()

    # a screenshot: decoded, the right size, and not one flat colour
    shot = tmp_path / "shot.png"
    p = browse(f"--screenshot={shot}", "--window-size=1200,2000", url, profile=tmp_path / "p1")
    assert shot.is_file(), p.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]  # (H, W, RGB) floats in [0, 1]
    assert pixels.shape[:2] == (2000, 1200)
    colours = {tuple(c) for c in (pixels[::4, ::4] * 255).round().astype(int).reshape(-1, 3)}
    assert len(colours) > 20, f"a near-blank page: {len(colours)} colours"
    background = pixels[0, 0]
    assert (abs(pixels - background).sum(axis=2) > 0.1).mean() > 0.02  # ink on > 2% of it

    # the DOM as Chromium built it: both runs, the comparison, the sample as text
    p = browse("--dump-dom", url, profile=tmp_path / "p2")
    assert p.returncode == 0 and "</html>" in p.stdout, p.stderr[-2000:]
    dom = Dom(p.stdout)
    text = "".join(dom.texts)
    assert [v for k, v in dom.attrs if k == "href"][:3] == ["#run-1", "#run-2", "#run-3"]
    assert all(f"{n}. {label}" in text for n, label in ((1, "first"), (2, "second"), (3, "job")))
    assert "lesson linear-regression: 2 runs" in text and "mlp trained on digits" in text
    assert "GD with η < 2/λ_max" in text  # the real run's claim, unicode intact
    assert f"hello {SCRIPT} world" in text  # shown as text ...
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in p.stdout  # ... because it was escaped
    assert "script" not in dom.tags  # and no script element was injected
    assert dom.tags.count("img") == 3  # lr_curves.png twice, loss.png
    assert dom.tags.count("svg") == 2 + 3  # curves: mse twice; loss, accuracy, lr
