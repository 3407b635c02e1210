"""Files as people expect them: the umask's modes (0644 files, 0755 folders), missing parent
folders created by -o, side files named after the output so two formats never collide, and a
PDF's side files kept in its build folder."""
import os
import stat

import pytest

from derive.cli import main
from derive.io.files import write_atomic

NEURON = ["neuron", "--x", "2", "--w", "3", "--b", "1", "--y", "5", "--lr", "0.1"]


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def run(argv):
    try:
        main(argv)
    except SystemExit as e:
        assert e.code in (0, None), e.code


def test_write_atomic_honours_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert mode(write_atomic(tmp_path / "a" / "b.txt", "x")) == 0o640
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "b.txt").read_text() == "x"


def test_cli_output_mode_and_missing_folders(tmp_path, umask022):
    target = tmp_path / "new" / "deeper" / "neuron.md"
    run(NEURON + ["--format", "md", "-o", str(target)])
    assert mode(target) == 0o644 and mode(target.parent) == 0o755
    assert "8" in target.read_text()


def test_homework_folder_and_files_are_0755_0644(tmp_path, umask022):
    spec = tmp_path / "hw.yaml"
    spec.write_text("equations: |\n  z = w*x + b\n  L = (z - y)**2\nvalues: {y: 1, b: 0}\n"
                    "random:\n  x: {integers: [1, 5]}\n  w: {integers: [1, 5]}\nask: [dL/dw]\n")
    run(["homework", str(spec), "--variants", "2", "--out", str(tmp_path / "hw"), "--format", "md"])
    folder = tmp_path / "hw"
    assert mode(folder) == 0o755
    assert {p.name: mode(p) for p in folder.iterdir()} == {
        "problems.md": 0o644, "solutions.md": 0o644, "answers.csv": 0o644, "answers.json": 0o644,
        ".derive-manifest": 0o644}  # the files derive wrote: what a later --force may replace


def test_handout_side_files_are_named_after_the_output(tmp_path, umask022):
    from derive.courseware.handout import write_handout
    write_handout(str(tmp_path / "sub" / "notes.tex"), "tex")
    names = sorted(p.name for p in (tmp_path / "sub").iterdir())
    assert names == ["notes-variance.png", "notes.tex"]
    assert "notes-variance.png" in (tmp_path / "sub" / "notes.tex").read_text()
    assert mode(tmp_path / "sub" / "notes-variance.png") == 0o644
    # a second document of another name beside it does not collide with the first one's plot
    write_handout(str(tmp_path / "sub" / "lecture.tex"), "tex", slides=True)
    assert (tmp_path / "sub" / "lecture-variance.png").exists()


def test_pdf_side_files_stay_in_the_build_folder(tmp_path, pdflatex):
    from derive.courseware.handout import write_handout
    write_handout(str(tmp_path / "slides.pdf"), "pdf", slides=True)
    write_handout(str(tmp_path / "handout.pdf"), "pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handout.pdf", "slides.pdf"]
