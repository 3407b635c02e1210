"""Writing files safely: atomically (temp file + rename, so no partial file is ever left), never
over an existing file without ``force``; and compiling LaTeX with a real pdflatex."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..core.errors import DeriveError, OutputExists


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
    check_replaceable(path)
    if path.exists() and not force:
        raise OutputExists(f"{path} exists; pass --force to overwrite it")
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
    SOURCE_DATE_EPOCH (with FORCE_SOURCE_DATE) fixes the dates, ``\\pdftrailerid{}`` drops the
    trailer ID, and the pdfTeX and TeX Live versions (Producer, PTEX.Fullbanner) are left out, so
    the bytes depend on the document, its fonts and images, not on the machine or the day."""
    if not pdflatex_available():
        raise DeriveError("pdflatex is not installed; install TeX Live (e.g. apt-get install "
                          "texlive-latex-base texlive-latex-recommended lmodern) or use --format tex")
    tex = tex.replace("\\documentclass", "\\pdftrailerid{}\\pdfsuppressptexinfo=-1"
                      "\\pdfinfo{/Producer (derive)}\\documentclass", 1)
    with tempfile.TemporaryDirectory(prefix="derive-pdf-") as tmp:
        for resource in resources:  # images the document includes
            shutil.copy(resource, Path(tmp) / Path(resource).name)
        src = Path(tmp) / "doc.tex"
        src.write_text(tex, encoding="utf-8")
        # Never run a shell command (\write18), and read or write files only below the build
        # folder (TeX Live's "paranoid" setting): the document's safety does not rest on its
        # escaping alone.
        env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1", openin_any="p",
                   openout_any="p", shell_escape="f")
        for _ in range(2):
            run = subprocess.run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode",
                                  "-halt-on-error", "doc.tex"],
                                 cwd=tmp, env=env, capture_output=True, text=True, errors="replace")
            if run.returncode != 0:
                lines = [l for l in run.stdout.splitlines() if l.startswith("!")]
                raise DeriveError("pdflatex failed: " + (lines[0] if lines else "see its log"))
            if "Rerun" not in run.stdout:
                break
        return (Path(tmp) / "doc.pdf").read_bytes()


# --- plots: the same bytes on every run and every machine that renders them alike ---------------

# What matplotlib would otherwise write into a plot file that is not the plot: its version
# (PNG Software, PDF Creator/Producer, SVG Creator), the time (PDF CreationDate, SVG Date).
PLOT_METADATA = {"png": {"Software": None},
                 "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
                 "svg": {"Creator": None, "Date": None}}
# SVG clip-path and glyph ids are hashes salted with a random uuid unless svg.hashsalt is set.
PLOT_RC = {"svg.hashsalt": "derive"}


def save_figure(figure, path, dpi: int | None = None) -> str:
    """Save a matplotlib ``figure`` to ``path`` (.png, .pdf or .svg, by its suffix) atomically and
    deterministically: no software version, date or random id in the file, so a file differs
    from an earlier one only where the plot does. Every plot derive writes goes through here,
    drawn at the size it is printed on a slide, labels at least 8 pt (``rendering.slides.fit_plot``)."""
    import io
    import matplotlib
    from ..rendering.slides import PLOT_DPI, fit_plot
    fit_plot(figure)
    dpi = PLOT_DPI if dpi is None else dpi
    path = Path(path)
    kind = path.suffix.lstrip(".").lower() or "png"
    if kind not in PLOT_METADATA:
        raise DeriveError(f"{path}: a plot is written as .png, .pdf or .svg")
    buffer = io.BytesIO()
    with matplotlib.rc_context(PLOT_RC):
        figure.savefig(buffer, format=kind, dpi=dpi, metadata=PLOT_METADATA[kind])
    write_atomic(path, buffer.getvalue(), force=True)
    return str(path)


# --- nothing lost: what derive may replace, and output folders claimed atomically ---------------

MANIFEST = ".derive-manifest"  # in every output folder: the files derive wrote there


def check_replaceable(path) -> None:
    """Refuse, whatever ``--force`` says, to replace a device, FIFO or socket (``-o /dev/null``
    would become a regular file) or a dangling symlink (its target may be a user's file to be)."""
    import stat
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) and not path.exists():
        raise DeriveError(f"{path} is a symbolic link to a missing file; derive does not replace it "
                          f"(remove the link or choose another name)")
    mode = os.stat(path).st_mode if stat.S_ISLNK(info.st_mode) else info.st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DeriveError(f"{path} is a device, pipe or socket, not a file; derive writes only "
                          f"regular files (choose another name)")


def _written_by_derive(folder: Path) -> set[str] | None:
    """The names in ``folder``'s manifest, or None if it has none."""
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return {line for line in text.splitlines() if line and "/" not in line}


def check_folder_replaceable(out, force: bool) -> None:
    """An output folder may be replaced only if it is empty, or with ``force`` if everything in it
    was written by derive (listed in its manifest): ``--force`` never deletes a user's thesis.tex."""
    out = Path(out)
    check_replaceable(out)
    if out.exists() and not out.is_dir():
        raise DeriveError(f"{out} is a file; give a folder")
    if not out.is_dir():
        return
    present = {p.name for p in out.iterdir()}
    if not present:
        return
    if not force:
        raise DeriveError(f"{out}/ exists and is not empty; pass --force to replace it")
    ours = _written_by_derive(out)
    if ours is None:
        raise DeriveError(f"{out}/ was not written by derive (it has no {MANIFEST}); --force replaces "
                          f"only derive's own output folders — choose an empty or new folder")
    foreign = sorted(present - ours - {MANIFEST})
    if foreign:
        shown = ", ".join(foreign[:3]) + (" …" if len(foreign) > 3 else "")
        raise DeriveError(f"{out}/ holds files derive did not write ({shown}); --force will not "
                          f"delete them — move them or choose another folder")


class FolderClaim:
    """Exclusive right to write one output folder: a lock file beside it, created with O_EXCL, so a
    concurrent run fails at once with a clear error instead of silently replacing the other's output.

    >>> with FolderClaim("/tmp/derive-doctest-out"):
    ...     pass
    """

    def __init__(self, out):
        self.out = Path(out)
        self.lock = self.out.parent / f".{self.out.name}.derive-lock"

    def __enter__(self):
        self.out.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise DeriveError(f"{self.out}/ is being written by another derive run (lock {self.lock}); "
                              f"wait for it to finish, or delete the lock if no run is active") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return self

    def __exit__(self, *exc):
        Path(self.lock).unlink(missing_ok=True)
        return False


def publish_folder(staging, out, force: bool) -> None:
    """Move the finished ``staging`` folder to ``out`` (writing its manifest first). An existing
    ``out`` is re-checked now — files may have appeared during the run — and anything in it that
    derive did not write is moved into the new folder rather than deleted."""
    staging, out = Path(staging), Path(out)
    if out.is_symlink() and out.is_dir():
        # ``--out LINK`` names the folder the link points to: that folder is replaced and the
        # link kept (renaming the link itself would leave it behind as ``.LINK.old-<pid>``)
        out = Path(os.path.realpath(out))
        if staging.parent != out.parent:  # the swap below is a rename within one folder
            moved = make_staging_dir(out.parent, f".{out.name}.")
            try:
                for p in staging.iterdir():
                    shutil.move(str(p), str(moved / p.name))
                staging.rmdir()  # emptied: nothing of it is left beside the link
                _swap_in(moved, out, force)
            except BaseException:
                shutil.rmtree(moved, ignore_errors=True)  # the caller removes its own staging
                raise
            return
    _swap_in(staging, out, force)


def _swap_in(staging: Path, out: Path, force: bool) -> None:
    names = sorted(p.name for p in staging.iterdir() if p.name != MANIFEST)
    (staging / MANIFEST).write_text("\n".join(names) + "\n", encoding="utf-8")
    honour_umask(staging / MANIFEST)
    old = None
    if out.exists():
        check_replaceable(out)
        if any(out.iterdir()) and (not force or _written_by_derive(out) is None):
            check_folder_replaceable(out, force)  # someone else's folder appeared meanwhile: refuse
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        ours = _written_by_derive(old) or set()
        for p in old.iterdir():  # created while we ran: keep it
            if p.name not in ours and p.name != MANIFEST and not (out / p.name).exists():
                os.replace(p, out / p.name)
        shutil.rmtree(old, ignore_errors=True)


class uninterruptible:
    """Hold off SIGINT/SIGTERM while cleaning up (a second Ctrl-C must not leave half a staging
    folder behind); a signal that arrives meanwhile is delivered on leaving."""

    def __enter__(self):
        import signal
        import threading
        self.saved, self.pending = {}, []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, lambda s, f: self.pending.append(s))
        return self

    def __exit__(self, *exc):
        import signal
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        if self.pending and exc[0] is None:
            raise KeyboardInterrupt
        return False
