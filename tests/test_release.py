"""The release (issue 23, item 5): one version, read from derive/__init__.py; `python -m build` makes
an sdist and a wheel that `twine check` accepts; the wheel installed into a fresh venv runs
`derive demo` and `derive render` from outside the checkout, finding its templates. The build and
the install are made once per session (the ``release`` fixture, tests/conftest.py); the demo it
wrote is the one the golden-file tests compare (``demo_output``)."""
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import derive

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_has_one_source():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "derive.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {derive.__version__} " in changelog, "CHANGELOG.md has no section for this version"


def test_build_makes_an_sdist_and_a_wheel_of_this_version(release):
    version = derive.__version__
    assert release.wheel.name.startswith(f"derive-{version}-py3-none-any")
    assert release.sdist.name == f"derive-{version}.tar.gz"
    with zipfile.ZipFile(release.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"derive-{version}.dist-info/METADATA").decode()
    assert f"Version: {version}\n" in metadata
    assert "derive/py.typed" in names and "derive/cli.py" in names
    templates = {n for n in names if n.startswith("derive/templates/") and n.endswith(".j2")}
    on_disk = {f"derive/templates/{p.relative_to(ROOT / 'templates')}" for p in (ROOT / "templates").glob("*/*.j2")}
    assert templates == on_disk and templates
    packages = {str(p.parent.relative_to(ROOT)).replace("/", ".") for p in (ROOT / "derive").rglob("__init__.py")}
    assert {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")} >= packages, \
        "a package of derive/ is missing from the wheel: add it to [tool.setuptools] packages"
    with tarfile.open(release.sdist) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "derive/__init__.py"} <= members
    assert any(m.startswith("templates/") and m.endswith(".j2") for m in members)


def test_twine_check_passes(release):
    run = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(release.sdist),
                          str(release.wheel)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("PASSED") == 2, run.stdout


def test_the_installed_wheel_runs_outside_the_checkout(release, demo_output, tmp_path):
    where = subprocess.run([str(release.python), "-c", "import derive, derive.rendering.formats as r; "
                            "print(derive.__file__); print(r.templates_dir())"], capture_output=True,
                           text=True, cwd=tmp_path, env=release.env, check=True).stdout.split()
    venv = release.python.parent.parent
    assert all(Path(p).is_relative_to(venv) for p in where), where  # not this tree
    version = subprocess.run([str(release.derive), "--version"], capture_output=True, text=True,
                             cwd=tmp_path, env=release.env)
    assert version.stdout.strip() == f"derive {derive.__version__}", version.stdout + version.stderr
    # derive demo (run by the demo_output fixture, in a folder of its own)
    from derive.courseware.demo import EXAMPLES
    for ex in EXAMPLES:
        for ext in ("md", "tex", "txt", "html"):
            assert (demo_output / f"{ex.name}.{ext}").stat().st_size > 0, (ex.name, ext)
    assert (demo_output / "README.md").is_file() and not list(demo_output.glob("*.pdf"))
    # derive render of a spec file, to Markdown and HTML (each format's template from the wheel)
    spec = tmp_path / "neuron.yaml"
    spec.write_text("title: One tanh neuron\nequations: |\n  z = w*x + b\n  a = tanh(z)\n  L = (a - y)**2\n"
                    "values: {x: 1, w: -2, b: 0.5, y: 0}\nlr: 0.1\n", encoding="utf-8")
    for fmt, ext in (("md", "md"), ("html", "html")):
        out = subprocess.run([str(release.derive), "render", "neuron.yaml", "--format", fmt, "-o", f"n.{ext}"],
                             capture_output=True, text=True, cwd=tmp_path, env=release.env)
        assert out.returncode == 0, out.stderr
    markdown = (tmp_path / "n.md").read_text(encoding="utf-8")
    assert "One tanh neuron" in markdown and "tanh" in markdown and "$$" in markdown
    assert "<math" in (tmp_path / "n.html").read_text(encoding="utf-8")
