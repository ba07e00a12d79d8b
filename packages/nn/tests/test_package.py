from importlib.metadata import version

import nn


def test_version_matches_distribution_metadata():
    assert nn.__version__ == version("nn")
