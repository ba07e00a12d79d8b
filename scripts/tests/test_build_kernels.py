"""build_kernels.py --check (a step of .ci/run) reports a kernel missing from an image.

It reads fatbins with cuobjdump, which the `kernels-build` dependency group installs (skipped,
with the command, where that group is not installed).
"""

from __future__ import annotations

import pytest

build_kernels = pytest.importorskip("build_kernels")
try:
    build_kernels.cuda_tool("cuobjdump")
except Exception as exc:  # any reason to lack the tool is a reason to skip
    pytest.skip(f"{exc} (uv run --group kernels-build pytest scripts)", allow_module_level=True)


def test_a_kernel_absent_from_an_image_is_reported(tmp_path):
    from cuda_kernels.kernels import prebuilt

    manifest = prebuilt.manifest()
    wanting_more = {**manifest, "sources": {
        "doublify.cu": {**manifest["sources"]["doublify.cu"], "kernels": ["doublify", "halve"]}
    }}  # fmt: skip
    problems = build_kernels.missing_images(wanting_more, build_kernels.PREBUILT_DIR)
    assert len(problems) == len(manifest["sass"]) + 1
    assert all("no halve (doublify.cu)" in p for p in problems)
