"""The kernels compiled ahead of time: one fatbin per `.cu` file, and which image fits a GPU.

Why: compiling at run time (pycuda's `SourceModule`) needs nvcc and a host compiler on the
machine where the kernels run, and many GPU hosts have a driver but no CUDA toolkit. So the
package ships, beside each `.cu` source, a fatbin built from it by
`scripts/build_kernels.py` with a pinned nvcc and the ladder's `-D` defines: machine code
(SASS) for each architecture in `SASS_ARCHS` and PTX for `PTX_ARCH`, which the driver
compiles for newer GPUs. `prebuilt/manifest.json` records what each fatbin was built from
(the source's and the defines' digest), so a fatbin that no longer matches its source is
never loaded: the tests and CI fail on it, and at run time the backend compiles instead.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources

from cuda_kernels.kernels.ladder import SOURCE_FILES, launches_in, nvcc_define_flags

#: (major, minor) of every architecture with machine code in the fatbins: the T4 of free
#: notebook GPUs (7.5), A100 (8.0), consumer Ampere (8.6), Ada (8.9) and Hopper (9.0).
SASS_ARCHS: tuple[tuple[int, int], ...] = ((7, 5), (8, 0), (8, 6), (8, 9), (9, 0))
#: PTX of this architecture is in the fatbins too; the driver JIT-compiles it on newer GPUs.
PTX_ARCH: tuple[int, int] = (9, 0)
#: Compiler flags besides the architectures and defines; run-time compiles use them too.
NVCC_FLAGS: tuple[str, ...] = ("-O3",)
MANIFEST = "manifest.json"


def fatbin_name(source: str) -> str:
    """`matmul.cu` -> `matmul.fatbin`."""
    return source.removesuffix(".cu") + ".fatbin"


def build_digest(source: str, text: str) -> str:
    """What a fatbin of `source` depends on in this package: its text, defines and flags."""
    recipe = "\n".join([text, *nvcc_define_flags(source), *NVCC_FLAGS])
    return hashlib.sha256(recipe.encode()).hexdigest()


def gencode_flags() -> list[str]:
    """nvcc's `-gencode` flags for `SASS_ARCHS` plus `PTX_ARCH`'s PTX."""
    flags = [f"-gencode=arch=compute_{a}{b},code=sm_{a}{b}" for a, b in SASS_ARCHS]
    ptx = "{}{}".format(*PTX_ARCH)
    flags.append(f"-gencode=arch=compute_{ptx},code=compute_{ptx}")
    return flags


def image_for(device_arch: tuple[int, int]) -> str | None:
    """The fatbin image a GPU of compute capability `device_arch` runs, in words (`prebuilt
    fatbin, sm_90 SASS`, or the PTX the driver compiles for it), or None.

    SASS for sm_XY runs on GPUs of the same major version and a minor of Y or more; PTX
    runs (after the driver compiles it) on any GPU at least as new as its architecture.
    The driver makes the same choice when it loads the fatbin; this says it in advance.
    """
    fitting = [a for a in SASS_ARCHS if a[0] == device_arch[0] and a[1] <= device_arch[1]]
    if fitting:
        return "prebuilt fatbin, sm_{}{} SASS".format(*max(fitting))
    if device_arch >= PTX_ARCH:
        return (
            f"prebuilt fatbin, compute_{PTX_ARCH[0]}{PTX_ARCH[1]} PTX compiled by the driver "
            f"for sm_{device_arch[0]}{device_arch[1]}"
        )
    return None


def _files():
    return resources.files(__package__).joinpath("prebuilt")


@cache
def manifest() -> dict:
    """The committed manifest: per source its digest, its fatbin's sha256 and kernels."""
    return json.loads(_files().joinpath(MANIFEST).read_text(encoding="utf-8"))


def stale_sources() -> list[str]:
    """Sources whose shipped text, defines or flags differ from what their fatbin was
    built from (empty when every fatbin is fresh)."""
    from cuda_kernels.kernels import read_source

    built = manifest()["sources"]
    return [
        source
        for source in SOURCE_FILES
        if source not in built
        or built[source]["build_digest"] != build_digest(source, read_source(source))
    ]


def read_fatbin(source: str) -> bytes:
    """The fatbin of one source, checked against its sha256 in the manifest; ValueError
    when it is damaged (then it must not be loaded). Whether it is stale is the caller's
    question (`stale_sources`), asked once for all sources before any is read."""
    data = _files().joinpath(fatbin_name(source)).read_bytes()
    expected = manifest()["sources"][source]["fatbin_sha256"]
    if hashlib.sha256(data).hexdigest() != expected:
        raise ValueError(f"{fatbin_name(source)} does not match its sha256 in {MANIFEST}")
    return data


def expected_kernels(source: str) -> list[str]:
    """The kernel entry points every image of a source's fatbin must hold."""
    return sorted(launch.function for launch in launches_in(source))
