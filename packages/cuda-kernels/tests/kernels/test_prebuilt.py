"""The shipped fatbins: fresh against their sources, intact, and the right image per GPU."""

from __future__ import annotations

import hashlib

import pytest

from cuda_kernels.kernels import ladder, prebuilt

REBUILD = "uv run --group kernels-build python scripts/build_kernels.py"


def test_every_fatbin_was_built_from_the_shipped_source_defines_and_flags():
    assert prebuilt.stale_sources() == [], f"stale prebuilt kernels: run `{REBUILD}`"


def test_the_manifest_lists_every_source_with_its_kernels_and_the_build_flags():
    manifest = prebuilt.manifest()
    assert set(manifest["sources"]) == set(ladder.SOURCE_FILES)
    for source, entry in manifest["sources"].items():
        assert entry["kernels"] == prebuilt.expected_kernels(source)
        assert entry["defines"] == ladder.nvcc_define_flags(source)
    assert manifest["flags"] == [*prebuilt.NVCC_FLAGS, *prebuilt.gencode_flags()]
    assert manifest["sass"] == [f"sm_{a}{b}" for a, b in prebuilt.SASS_ARCHS]
    assert manifest["nvcc"].startswith("nvidia-cuda-nvcc==13.0.")


@pytest.mark.parametrize("source", ladder.SOURCE_FILES)
def test_a_fatbin_reads_back_with_its_recorded_digest(source):
    data = prebuilt.read_fatbin(source)
    assert hashlib.sha256(data).hexdigest() == prebuilt.manifest()["sources"][source][
        "fatbin_sha256"
    ]
    assert data[:4] == bytes.fromhex("50ed55ba")  # the fatbin container's magic number


def test_a_changed_source_makes_its_fatbin_stale(monkeypatch):
    """The backend then compiles instead of loading it (test_backends.py)."""
    import cuda_kernels.kernels as kernels

    original = kernels.read_source
    monkeypatch.setattr(kernels, "read_source", lambda name: original(name) + "\n// edited")
    assert prebuilt.stale_sources() == list(ladder.SOURCE_FILES)


def test_a_damaged_fatbin_is_refused(monkeypatch):
    damaged = {**prebuilt.manifest()}
    damaged["sources"] = {
        name: {**entry, "fatbin_sha256": "0" * 64} for name, entry in damaged["sources"].items()
    }
    monkeypatch.setattr(prebuilt, "manifest", lambda: damaged)
    with pytest.raises(ValueError, match="does not match its sha256"):
        prebuilt.read_fatbin("doublify.cu")


@pytest.mark.parametrize(
    ("capability", "expected"),
    [
        ((9, 0), "prebuilt fatbin, sm_90 SASS"),  # H100, H200
        ((8, 0), "prebuilt fatbin, sm_80 SASS"),  # A100
        ((8, 7), "prebuilt fatbin, sm_86 SASS"),  # Orin runs sm_86 code
        ((8, 9), "prebuilt fatbin, sm_89 SASS"),  # L4, RTX 40xx
        ((7, 5), "prebuilt fatbin, sm_75 SASS"),  # T4
        ((10, 0), "prebuilt fatbin, compute_90 PTX compiled by the driver for sm_100"),
        ((12, 0), "prebuilt fatbin, compute_90 PTX compiled by the driver for sm_120"),
    ],
)
def test_the_image_each_gpu_runs(capability, expected):
    assert prebuilt.image_for(capability) == expected


@pytest.mark.parametrize("capability", [(7, 0), (6, 1), (5, 2)])
def test_gpus_older_than_every_image_get_none(capability):
    assert prebuilt.image_for(capability) is None
