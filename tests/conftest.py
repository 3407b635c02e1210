"""Shared fixtures. In CI (DERIVE_REQUIRE_TOOLS=1) a missing external tool fails instead of
skipping: no test may be skipped for a missing tool there."""
import os
import shutil

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=250, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=60, deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("DERIVE_REQUIRE_TOOLS") or os.environ.get("CI") else "dev")


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
