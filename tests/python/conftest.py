"""Shared fixtures of the Python suite. The package is imported from
python/ (CTest sets PYTHONPATH; this also works when pytest runs from the
repository root). QFLEET_BIN_DIR names the built programs; tests that need
them skip when it is unset or they are missing."""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "python"))

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"


def bin_path(name):
    """Path of a built program, or skip the test."""
    bin_dir = os.environ.get("QFLEET_BIN_DIR")
    if not bin_dir:
        pytest.skip("QFLEET_BIN_DIR is not set (CTest sets it to the build's bin/)")
    path = os.path.join(bin_dir, name)
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built")
    return path


@pytest.fixture(scope="session")
def repo():
    return REPO
