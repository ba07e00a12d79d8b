#!/usr/bin/env bash
# gpu_check.sh: the whole GPU session for cuda-kernels in one script (no network needed).
#
# Run from the repository root on the GPU host (H100/H200, see ../shared/gpu/README.md),
# with the pycuda wheels built by ../shared/gpu/build-pycuda-wheels.sh in .whl/ and the
# cuda-kernels wheel in dist/cuda-kernels/ (`uv build --package cuda-kernels --wheel --out-dir
# dist/cuda-kernels`, or scripts/release.py):
#
#     OUT=/some/dir bash packages/cuda-kernels/benchmarks/gpu_check.sh
#
# It installs the wheels into /tmp/site, prints device / driver / CUDA, runs the GPU tests
# (every kernel against float64 at tile-multiple and odd sizes) and the benchmark up to
# n = 8192, and writes everything under $OUT (default /tmp/gpu-check-out):
#   $OUT/gpu_check.log            everything printed
#   $OUT/environment.txt          nvidia-smi, nvcc, python, pycuda, cupy, torch versions
#   $OUT/pytest-gpu.xml           junit report of the GPU tests
#   $OUT/results/<device>/        results.json, table.txt, PNGs: ready to commit under
#                                 packages/cuda-kernels/benchmarks/results/<device>/
# Expected run time on an H100: about 2-4 minutes (each step has its own time limit).
# Exit status: 0 when the tests pass and every kernel validated, else the first failure.
set -uo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
status=0
step() { printf '\n==> %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { echo "FAILED: $*"; [ "$status" -ne 0 ] || status=1; }

step "pycuda wheels -> /tmp/site"
if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "no .whl/*.whl here: build them first with ../shared/gpu/build-pycuda-wheels.sh .whl"
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \
    dist/cuda-kernels/*.whl || exit 2
export PYTHONPATH=/tmp/site:$ROOT/packages/autograd/src:$ROOT/packages/nn/src:$ROOT/packages/mnist-trainer/src
export PATH=/usr/local/cuda/bin:$PATH   # pycuda's SourceModule runs nvcc
export MPLBACKEND=Agg
unset CUPY_TF32                         # cuBLAS baseline in strict float32

step "device, driver, CUDA"
{
    nvidia-smi || true
    nvcc --version | tail -n 2 || true
    python3 - <<'PY'
import sys
import numpy
import pycuda.autoprimaryctx  # noqa: F401  (the first check the gpu README asks for)
import pycuda.driver as cuda
d = cuda.Device(0)
print("python", sys.version.split()[0], "numpy", numpy.__version__)
print("device", d.name(), "cc", d.compute_capability(), "mem GiB", d.total_memory() / 2**30)
print("driver CUDA", cuda.get_driver_version(), "pycuda built for CUDA", cuda.get_version())
for name in ("cupy", "torch", "matplotlib", "grpc", "google.protobuf"):
    try:
        module = __import__(name, fromlist=["__version__"])
        print(name, getattr(module, "__version__", "?"))
    except Exception as exc:  # report, do not stop
        print(name, "unavailable:", exc)
PY
} 2>&1 | tee "$OUT/environment.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "pycuda cannot see the GPU; stopping"; exit 3; }

step "GPU tests + backend/validation/CLI tests + nvcc compile check"
timeout 180 python3 -m pytest -q -p no:cacheprovider -rs --junitxml="$OUT/pytest-gpu.xml" \
    packages/cuda-kernels/tests/test_gpu.py \
    packages/cuda-kernels/tests/test_backends.py \
    packages/cuda-kernels/tests/test_validation.py \
    packages/cuda-kernels/tests/kernels/test_compile.py \
    || fail "pytest (exit $?)"

step "benchmark up to n = 8192"
device=$(python3 -c "import pycuda.driver as c; c.init(); import re; \
print(re.sub(r'[^a-z0-9]+', '-', c.Device(0).name().lower()).strip('-'))")
bench_dir="$OUT/results/$device"
mkdir -p "$bench_dir"
timeout 300 python3 -m cuda_kernels.cli bench --out "$bench_dir" \
    --sizes 256 512 1024 2048 4096 8192 --repeats 20 --warmup 3 \
    > "$OUT/bench-stdout.txt"
rc=$?
cat "$OUT/bench-stdout.txt"
[ "$rc" -eq 0 ] || fail "bench (exit $rc)"

step "done: status $status; files under $OUT"
find "$OUT" -type f | sort
exit "$status"
