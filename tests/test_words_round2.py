"""Issue 26, second round of QA on words and courseware: help texts that name only files that
exist and speak about the math; a problem sheet that states the example's own parameter values
(never a default); a tensor document's lecturer's note; a course pack that states a shared
definition once; homework LaTeX without a fragment's comment inside a whole document; the deep
chain's labels (exploding, stable, vanishing) following the numbers they label."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from derive.cli import cli

ROOT = Path(__file__).resolve().parent.parent

# a path inside the repository, as a help text would name one (docs/guide/commands.md)
REPO_PATH = re.compile(r"(?<![\w/.-])((?:docs|derive|examples|templates|tests|bench)/[\w./-]*\w)")
MODULE = re.compile(r"(?<![\w/.-])(derive(?:\.[a-z_]+)+)\b")
# words about the program's insides, not what the command gives the user
HELP_BANNED = [r"\bengine\b", r"\bsympy\b", r"\bconversation\b", r"\bcomes from the\b",
               r"\bcomputed by\b", r"\bevaluates\b"]


def _commands(group: click.Group, prefix=()):
    """Every command of the CLI, nested groups included, as (argv prefix, command)."""
    yield prefix, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))
        else:
            yield prefix + (name,), command


def _helps() -> dict:
    runner = CliRunner()
    out = {}
    for argv, _ in _commands(cli):
        result = runner.invoke(cli, [*argv, "--help"])
        assert result.exit_code == 0, (argv, result.output)
        out[" ".join(argv) or "derive"] = result.output
    return out


def test_every_path_a_help_text_names_exists():
    helps = _helps()
    assert len(helps) >= 12  # derive and each of its commands
    named = {(cmd, p) for cmd, text in helps.items() for p in REPO_PATH.findall(text)}
    missing = [(cmd, p) for cmd, p in sorted(named) if not (ROOT / p).exists()]
    assert not missing, missing
    assert ("handout", "docs/guide/lecture-materials.md") in named  # where course packs are documented
    modules = {m for text in helps.values() for m in MODULE.findall(text)}
    for module in modules:  # a module a help text points to can be imported
        importlib.import_module(module)


def test_no_help_text_speaks_about_the_programs_insides():
    bad = [(cmd, m.group(0)) for cmd, text in _helps().items() for pattern in HELP_BANNED
           for m in re.finditer(pattern, " ".join(text.split()), flags=re.IGNORECASE)]
    assert not bad, bad


def test_the_help_checker_finds_what_it_should():
    assert REPO_PATH.findall("(see docs/guides/course-packs.md).") == ["docs/guides/course-packs.md"]
    assert REPO_PATH.findall("derive demo --out output/ and spec.yaml") == []
    text = "Every number comes from the engine; SymPy evaluates the product"
    assert sum(bool(re.search(p, text, flags=re.IGNORECASE)) for p in HELP_BANNED) == 4
