"""Shared fixtures. In CI (DERIVE_REQUIRE_TOOLS=1) a missing external tool fails instead of
skipping: no test may be skipped for a missing tool there.

Running the tests:

* ``bash .ci/run``: everything, as CI does (in parallel: ``pytest -n auto --dist loadgroup``).
* ``python -m pytest --quick -n auto``: the developer's inner loop, about a minute on two cores:
  the tests marked ``slow`` are left out (pdflatex, pandoc, Chromium, notebooks, subprocesses,
  fuzzing and the other long end-to-end cases; ``-m slow`` runs only them) and hypothesis tries 10
  examples instead of 60.
* ``python -m pytest -q tests/test_x.py``: one file, as usual.

Under xdist the tests that share the session's builds (``release``: the wheel installed in a fresh
venv; ``demo_output``: that install's `derive demo`; ``latex_builds``: every LaTeX document
compiled) are one group (``xdist_group("latex")``), so one worker makes each of them, once.
"""
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=250, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("quick", max_examples=10, deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("DERIVE_REQUIRE_TOOLS") or os.environ.get("CI") else "dev")

# Slow: end-to-end tests of a few seconds or more on an idle two-core machine (pytest --durations).
# Also slow, whatever their name: every test that uses an external tool or the shared builds.
SLOW_MODULES = {"test_fuzz.py", "test_publishing.py", "test_release.py", "test_startup.py",
                "test_layout.py", "test_golden.py", "test_crosscheck.py", "test_tutor.py",
                "test_browser.py", "test_worksheet.py", "test_serve.py"}
SLOW_TESTS = {
    "test_carry.py": {"test_an_interval_holds_every_value_of_its_box", "test_carried_rate_over_a_fixed_sample",
                      "test_follow_on_steps_of_a_single_mistake_are_carried"},
    "test_chainrule.py": {"test_deep_chain_checks_without_recursion"},
    "test_layer_wrappers.py": {"test_scalar_rnn_builder_is_the_unrolled_equations_and_torch"},
    "test_checking_input.py": {"test_str_of_every_value_and_gradient_round_trips"},
    "test_cli.py": {"test_check_command_exit_codes", "test_pdf_without_pdflatex_is_a_clear_error", "test_render_spec_and_output_files"},
    "test_deep.py": {"test_random_mlps_match_torch"},
    "test_engine.py": {"test_deep_relu_chain_has_no_recursion_limit"},
    "test_extending.py": {"test_registered_activation_in_pytorch_export",
                          "test_recommended_initialisation_is_a_fact_of_the_entry"},
    "test_words.py": {"test_no_document_kind_has_words_about_the_tool"},
    "test_typesetting.py": {"test_html_displays_scroll_with_nothing_cut_off_at_800_px",
                            "test_homework_bytes_do_not_depend_on_jobs"},
    "test_course_pack.py": {"test_pack_notebook_runs"},
    "test_parity.py": {"test_notebook_runs_in_nbclient", "test_tensor_export_can_fail",
                       "test_tensor_pytorch_export_runs_and_agrees",
                       "test_tensor_render_pytorch_and_ipynb_through_the_cli"},
    "test_files.py": {"test_handout_side_files_are_named_after_the_output"},
    "test_handout.py": {"test_handout_markdown_has_svg_diagrams_and_plot", "test_handout_numbers_come_from_the_engine"},
    "test_homework.py": {"test_check_homework_answers_by_variant_id", "test_cli_homework"},
    "test_initialization.py": {"test_cli_variance_and_pytorch", "test_exported_pytorch_scripts_run_and_agree",
                               "test_plots_are_real_files", "test_simulation_acceptance_and_determinism"},
    "test_language.py": {"test_every_scalar_loss_agrees_with_its_written_formula_and_torch",
                         "test_kinks_and_ties_agree_with_torch_and_the_export", "test_lambda_is_a_name_printed_greek",
                         "test_logsumexp_sin_cos_values_and_gradients", "test_why_bullet_losses_max_lambda_and_the_tie_export"},
    "test_matrixcheck.py": {"test_cli_checks_matrix_answers_from_yaml_and_npz"},
    "test_registered.py": {"test_notebook_registers_the_activations_it_uses"},
    "test_reliability.py": {"test_sigterm_removes_staging_and_prints_one_line"},
    "test_training.py": {"test_cli_train", "test_every_optimizer_matches_torch_on_the_2_2_2_network",
                         "test_per_parameter_learning_rates_match_torch_param_groups",
                         "test_plot_is_an_agg_figure_and_deterministic",
                         "test_rational_runs_stay_rational_and_irrational_ones_stay_shallow"},
}
SLOW_FIXTURES = {"pdflatex", "pandoc", "release", "demo_output", "latex_builds"}
SHARED_BUILDS = {"release", "demo_output", "latex_builds"}
ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true",
                     help="derive: leave out the tests marked slow (a one-minute inner loop)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long end-to-end test, left out by --quick")
    if config.getoption("--quick"):
        settings.load_profile("quick")


@pytest.hookimpl(tryfirst=True)  # before -m reads the markers added here
def pytest_collection_modifyitems(config, items):
    quick = config.getoption("--quick")
    kept, dropped = [], []
    for item in items:
        module = Path(str(item.fspath)).name
        fixtures = set(getattr(item, "fixturenames", ()))
        name = getattr(item, "originalname", None) or item.name.split("[")[0]
        if module in SLOW_MODULES or name in SLOW_TESTS.get(module, ()) or fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if fixtures & SHARED_BUILDS:
            item.add_marker(pytest.mark.xdist_group("latex"))
        (dropped if quick and item.get_closest_marker("slow") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("DERIVE_REQUIRE_TOOLS") or os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI; .ci/install should have installed it")
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture
def pdflatex():
    return require_tool("pdflatex")


@pytest.fixture
def pandoc():
    return require_tool("pandoc")


@dataclass(frozen=True)
class Release:
    """The sdist and wheel ``python -m build`` made, and a fresh venv with the wheel installed."""
    sdist: Path
    wheel: Path
    python: Path
    derive: Path
    env: dict


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Release:
    """Build the release from a copy of this tree (the build writes into it) and install the wheel
    into a fresh venv. The venv sees this environment's packages (--system-site-packages: no
    download of torch or SymPy) but not this tree: the wheel's own files must be enough."""
    base = tmp_path_factory.mktemp("release")
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "output", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache"))
    dist = base / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
                   check=True, capture_output=True, cwd=base)
    (sdist,), (wheel,) = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, cwd=base)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed copy, not this tree
    return Release(sdist, wheel, venv / "bin" / "python", venv / "bin" / "derive", env)


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory, release):
    """`derive demo --no-pdf` of the installed wheel (tests/test_release.py), run once per session
    outside the checkout; its PDFs are compiled by ``latex_builds``. For the golden-file tests
    (tests/test_golden.py) and the layout test."""
    cwd = tmp_path_factory.mktemp("demo-cwd")
    run = subprocess.run([str(release.derive), "demo", "--out", "demo", "--no-pdf"], cwd=cwd,
                         env=release.env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return cwd / "demo"


@pytest.fixture(scope="session")
def latex_builds(tmp_path_factory, demo_output):
    """Every LaTeX document the suite produces (tests/latex_documents.py), compiled once per
    session, two at a time: name -> Build. The demo's documents are read from ``demo_output``."""
    require_tool("pdflatex")
    from tests.latex_documents import compile_latex, documents
    base = tmp_path_factory.mktemp("latex")
    docs = documents(str(base / "plots"), str(demo_output))
    with ThreadPoolExecutor(2) as pool:
        builds = pool.map(lambda item: compile_latex(base / item[0], *item[1]), docs.items())
        return dict(zip(docs, builds))
