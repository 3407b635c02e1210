"""Writing files safely: atomically (temp file + rename, so no partial file is ever left), never
over an existing file without ``force``; and compiling LaTeX with a real pdflatex."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..core.errors import DeriveError


def current_umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path, folder: bool = False) -> None:
    """mkstemp/mkdtemp create 0600/0700 whatever the umask; give a file we publish the mode a
    plain open() or mkdir() would (0644/0755 under the usual umask 022)."""
    os.chmod(path, (0o777 if folder else 0o666) & ~current_umask())


def make_staging_dir(parent, prefix: str) -> Path:
    """A temporary folder beside ``parent``'s final output that is renamed into place later, with
    the permissions of an ordinary folder."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    honour_umask(staging, folder=True)
    return staging


def write_atomic(path, data, force: bool = False) -> Path:
    """Write ``data`` (str or bytes) to ``path`` atomically; missing parent folders are created
    and the file gets the umask's usual mode.

    >>> write_atomic("/tmp/derive-doctest.txt", "hi", force=True).read_text()
    'hi'
    """
    path = Path(path)
    if path.exists() and not force:
        raise DeriveError(f"{path} exists; pass --force to overwrite it")
    if path.is_dir():
        raise DeriveError(f"{path} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        honour_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def pdflatex_available() -> bool:
    return shutil.which("pdflatex") is not None


def compile_pdf(tex: str, resources=()) -> bytes:
    """Run pdflatex (twice, for references) on ``tex`` and return the PDF bytes. Deterministic:
    SOURCE_DATE_EPOCH fixes the dates and the trailer ID."""
    if not pdflatex_available():
        raise DeriveError("pdflatex is not installed; install TeX Live (e.g. apt-get install "
                          "texlive-latex-base texlive-latex-recommended lmodern) or use --format tex")
    tex = tex.replace("\\documentclass", "\\pdftrailerid{}\\documentclass", 1)
    with tempfile.TemporaryDirectory(prefix="derive-pdf-") as tmp:
        for resource in resources:  # images the document includes
            shutil.copy(resource, Path(tmp) / Path(resource).name)
        src = Path(tmp) / "doc.tex"
        src.write_text(tex, encoding="utf-8")
        env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
        for _ in range(2):
            run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                                 cwd=tmp, env=env, capture_output=True, text=True, errors="replace")
            if run.returncode != 0:
                lines = [l for l in run.stdout.splitlines() if l.startswith("!")]
                raise DeriveError("pdflatex failed: " + (lines[0] if lines else "see its log"))
            if "Rerun" not in run.stdout:
                break
        return (Path(tmp) / "doc.pdf").read_bytes()
