"""The documentation site: it builds with ``mkdocs build --strict``, and every code example in
docs/ runs and shows what it says.

Per page, in a fresh folder, in the page's order:

* a fenced block with a file name (```` ```yaml title="net.yaml" ````) is written to that file;
* ``python`` / ``pycon`` blocks run in one namespace per page: blocks with ``>>>`` prompts as
  doctests (``…`` or ``...`` in an expected output stands for any text), others executed as they are;
* ``console`` blocks: each ``$ command`` runs in bash, with ``derive`` this checkout's command
  line; the lines shown under it must appear in its output in that order (a line ``…`` skips any
  number of lines). A command must exit 0 unless its line ends with ``# exit status N``;
* ``bash`` blocks: every line runs in bash likewise, and must exit 0 (or its ``# exit status N``).

A block that must not run (``pip install``, ``mkdocs serve``) is preceded by the line
``<!-- docs-test: skip -->``. The README's examples run too, except its opening block (the two
commands it starts with: an install and the whole test suite).
"""
from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)
README = ROOT / "README.md"
SKIP = "<!-- docs-test: skip -->"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`\n]*)$")


@dataclass(frozen=True)
class Block:
    lang: str
    title: str | None
    code: str
    line: int  # 1-based line of the opening fence
    skip: bool


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, also inside admonitions and tabs (indented)."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").strip()
        body, j = [], i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        previous = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        lang = info.split()[0] if info else ""
        title = re.search(r'title="([^"]+)"', info)
        found.append(Block(lang, title.group(1) if title else None, "\n".join(body) + "\n", i + 1,
                           previous == SKIP))
        i = j + 1
    return found


def _normal(line: str) -> str:
    return " ".join(line.split())


def shown_in(expected: str, actual: str) -> bool:
    """The expected lines appear in ``actual`` in order; runs between ``…`` lines contiguously."""
    got = [_normal(x) for x in actual.splitlines()]
    chunks, current = [], []
    for line in expected.splitlines():
        if line.strip() in ("…", "..."):
            chunks.append(current)
            current = []
        elif line.strip():
            current.append(_normal(line))
    chunks.append(current)
    at = 0
    for chunk in (c for c in chunks if c):
        for start in range(at, len(got) - len(chunk) + 1):
            if got[start:start + len(chunk)] == chunk:
                at = start + len(chunk)
                break
        else:
            return False
    return True


class _Ellipsis(doctest.OutputChecker):
    def check_output(self, want, got, optionflags):
        return super().check_output(want.replace("…", "..."), got, optionflags)


def _shell(tmp: Path) -> dict:
    """An environment whose ``derive`` is this checkout's command line."""
    bin_dir = tmp / ".bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "derive"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m derive.cli "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DERIVE_DOCS")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""), COLUMNS="100")
    return env


def _run(command: str, tmp: Path, env: dict, where: str) -> str:
    status = re.search(r"#\s*exit status (\d+)\s*$", command)
    done = subprocess.run(["bash", "-c", "set -o pipefail\n" + command], cwd=tmp, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    want = int(status.group(1)) if status else 0
    assert done.returncode == want, (f"{where}: `{command}` exited {done.returncode} (want {want})\n"
                                     f"{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def console_commands(code: str) -> list[tuple[str, str]]:
    """(command, shown output) pairs of a console block; ``\\`` continues a command line."""
    pairs, command, output = [], None, []
    lines = iter(code.splitlines())
    for line in lines:
        if line.startswith("$ "):
            if command is not None:
                pairs.append((command, "\n".join(output)))
            command, output = line[2:], []
            while command.endswith("\\"):
                command = command[:-1] + "\n" + next(lines)
        elif command is not None:
            output.append(line)
    if command is not None:
        pairs.append((command, "\n".join(output)))
    return pairs


def bash_commands(code: str) -> list[str]:
    commands, current = [], ""
    for line in code.splitlines():
        current += line
        if current.endswith("\\"):
            current = current[:-1] + "\n"
            continue
        if current.strip() and not current.lstrip().startswith("#"):
            commands.append(current)
        current = ""
    return commands


def run_page(page: Path, tmp: Path, skip_first: bool = False) -> int:
    """Run every block of ``page`` in ``tmp``; the number of blocks run."""
    import derive
    name = page.relative_to(ROOT).as_posix()
    env = _shell(tmp)
    namespace: dict = {"__name__": f"docs.{name}"}
    before = set(derive.FUNCTIONS)
    ran = 0
    old = os.getcwd()
    os.chdir(tmp)
    try:
        for index, block in enumerate(blocks(page.read_text())):
            where = f"{name}:{block.line}"
            if block.skip or (skip_first and index == 0):
                continue
            if block.title:
                (tmp / block.title).parent.mkdir(parents=True, exist_ok=True)
                (tmp / block.title).write_text(block.code)
                ran += 1
            if block.lang in ("python", "pycon", "py"):
                if ">>>" in block.code:
                    test = doctest.DocTestParser().get_doctest(block.code, namespace, where, where,
                                                               block.line)
                    runner = doctest.DocTestRunner(checker=_Ellipsis(), optionflags=(
                        doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE))
                    out = []
                    runner.run(test, out=out.append, clear_globs=False)
                    namespace.update(test.globs)  # DocTest copies its globals: the next block sees them
                    assert runner.failures == 0, "".join(out)
                elif not block.title:
                    exec(compile(block.code, where, "exec"), namespace)
                ran += 1
            elif block.lang == "console":
                for command, shown in console_commands(block.code):
                    output = _run(command, tmp, env, where)
                    assert shown_in(shown, output), (f"{where}: `{command}` printed\n{output}\n"
                                                     f"which does not show\n{shown}")
                ran += 1
            elif block.lang in ("bash", "sh", "shell"):
                for command in bash_commands(block.code):
                    _run(command, tmp, env, where)
                ran += 1
    finally:
        os.chdir(old)
        from derive.core.extend import unregister
        for added in set(derive.FUNCTIONS) - before:  # a tutorial's own activations
            unregister(added)
    return ran


@pytest.mark.slow  # each page runs derive's CLI (pdflatex for the PDFs): left out by --quick
@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_every_code_example_runs(page, tmp_path):
    run_page(page, tmp_path)


@pytest.mark.slow
def test_the_readme_examples_run(tmp_path):
    first = blocks(README.read_text())[0]
    # the README starts with its two commands: install and demo, then the whole suite
    assert README.read_text().startswith("```bash\n") and "derive demo --out output/ --force" in first.code
    assert "bash .ci/run" in first.code
    assert run_page(README, tmp_path, skip_first=True) >= 2


def test_the_tutorials_have_examples_to_run():
    for page in (DOCS / "tutorials").glob("*.md"):
        runnable = [b for b in blocks(page.read_text()) if not b.skip and b.lang in
                    ("python", "pycon", "console", "bash")]
        assert len(runnable) >= 5, f"{page.name}: {len(runnable)} runnable examples"


def test_the_harness_compares_what_is_shown():
    assert shown_in("a\n…\nc  d", "a\nb\nc   d\n")
    assert not shown_in("a\nc", "a\nb\nc\n")  # contiguous unless … stands between
    assert not shown_in("c\na", "a\nb\nc\n")  # in order
    assert console_commands("$ derive x \\\n  --y 1\nout\n$ ls\n") == [("derive x \n  --y 1", "out"),
                                                                         ("ls", "")]
    text = "<!-- docs-test: skip -->\n```bash\npip install .\n```\n\n!!! note\n    ```python\n    1\n    ```\n"
    found = blocks(text)
    assert [(b.lang, b.skip, b.code) for b in found] == [("bash", True, "pip install .\n"),
                                                           ("python", False, "1\n")]


@pytest.mark.slow  # the gallery renders every example (cached by the code's hash)
def test_the_site_builds_strictly(tmp_path):
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("DERIVE_REQUIRE_TOOLS"):  # CI installs .[docs]: no skipping there
            raise
        pytest.skip("mkdocs is not installed: pip install .[docs]")
    if shutil.which("pdflatex") is None and not os.environ.get("DERIVE_REQUIRE_TOOLS"):
        pytest.skip("the gallery needs pdflatex")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=str(ROOT))
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    # the generated parts are there and hold what the code has
    import derive
    equations = (site / "reference" / "equations" / "index.html").read_text()
    for name in derive.FUNCTIONS:
        assert f"<code>{name}</code>" in equations, name
    cli_page = (site / "reference" / "cli" / "index.html").read_text()
    from derive.cli import cli
    for command in cli.commands:
        assert f"derive {command}" in cli_page, command
    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ("Example", "neuron", "mlp", "chain", "Report", "register_activation", "Training"):
        assert f'id="derive.' in api and name in api, name
    gallery = site / "gallery"
    for spec in (ROOT / "examples").glob("*.yaml"):
        assert (gallery / f"{spec.stem}.html").read_text().lstrip().lower().startswith("<!doctype html")
        assert (gallery / f"{spec.stem}.png").read_bytes().startswith(b"\x89PNG")
