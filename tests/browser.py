"""Headless Chromium for the HTML tests: load a page exactly as a reader would (a file URL, no
network), collect every console message, and ask the page itself whether its math is MathML that
the browser laid out (a probe script appended to a copy of the page writes the answer into the
DOM that --dump-dom returns)."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import require_tool

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"]

PROBE = """<script id="derive-probe">
(function () {
  var maths = Array.prototype.slice.call(document.querySelectorAll("math"));
  var laid = maths.filter(function (m) {
    var r = m.getBoundingClientRect();
    return typeof MathMLElement !== "undefined" && m instanceof MathMLElement && r.width > 0 && r.height > 0;
  });
  var svgs = document.querySelectorAll("svg").length;
  var imgs = Array.prototype.slice.call(document.images).filter(function (i) { return i.src.indexOf("data:") === 0; });
  document.documentElement.setAttribute("data-probe", maths.length + " " + laid.length + " " + svgs + " " + imgs.length);
})();
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return require_tool("chromium")


def load(page: Path) -> dict:
    """{"math": n, "mathml_laid_out": n, "svg": n, "data_images": n, "console": [...]} for a page."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="derive-browser-") as tmp:
        copy = Path(tmp) / page.name
        html = page.read_text(encoding="utf-8")
        # the probe runs after the page's own content (before </body> if there is one)
        copy.write_text(html.replace("</body>", PROBE + "</body>") if "</body>" in html else html + PROBE,
                        encoding="utf-8")
        run = subprocess.run([browser, *FLAGS, f"--user-data-dir={tmp}/profile", "--dump-dom",
                              copy.as_uri()], capture_output=True, text=True, timeout=120)
    console = [l for l in run.stderr.splitlines() if ":CONSOLE" in l]
    m = re.search(r'data-probe="(\d+) (\d+) (\d+) (\d+)"', run.stdout)
    assert m, ("the page did not load or the probe did not run", run.returncode, run.stderr[-500:])
    math, laid, svg, images = map(int, m.groups())
    return {"math": math, "mathml_laid_out": laid, "svg": svg, "data_images": images, "console": console}


def evaluate(page: Path, script: str) -> str:
    """Run ``script`` (JavaScript that returns a string) in the loaded page, after its content;
    returns that string (written into the DOM that --dump-dom returns)."""
    browser = chromium()
    probe = ('<script>document.documentElement.setAttribute("data-answer", encodeURIComponent('
             f"(function () {{ {script} }})()));</script>")
    with tempfile.TemporaryDirectory(prefix="derive-browser-") as tmp:
        copy = Path(tmp) / page.name
        html = page.read_text(encoding="utf-8")
        copy.write_text(html.replace("</body>", probe + "</body>") if "</body>" in html else html + probe,
                        encoding="utf-8")
        run = subprocess.run([browser, *FLAGS, f"--user-data-dir={tmp}/profile", "--dump-dom",
                              copy.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'data-answer="([^"]*)"', run.stdout)
    assert m, ("the page did not load or the script did not run", run.returncode, run.stderr[-500:])
    from urllib.parse import unquote
    return unquote(m.group(1))
