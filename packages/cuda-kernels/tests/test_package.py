from importlib.metadata import version

import cuda_kernels


def test_version_matches_distribution_metadata():
    assert cuda_kernels.__version__ == version("cuda-kernels")
    assert cuda_kernels.__version__.count(".") == 2
