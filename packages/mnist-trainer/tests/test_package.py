from importlib.metadata import version

import mnist_trainer


def test_version_matches_distribution_metadata():
    assert mnist_trainer.__version__ == version("mnist-trainer")
    assert mnist_trainer.__version__.count(".") == 2
