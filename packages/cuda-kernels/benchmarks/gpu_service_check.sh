#!/usr/bin/env bash
# gpu_service_check.sh: the gRPC service on the GPU host, in one script (no network needed).
#
# Before the session, on a CPU machine with network, from the repository root:
#     uv build --package cuda-kernels --wheel --out-dir dist/cuda-kernels        # this package
#     ../shared/gpu/build-pycuda-wheels.sh .whl                                  # pycuda
#     bash packages/cuda-kernels/benchmarks/fetch_service_wheels.sh .whl/service  # grpc & co
# On the GPU host, from the repository root (carry .whl):
#     OUT=/some/dir bash packages/cuda-kernels/benchmarks/gpu_service_check.sh
#
# It starts `cuda-kernels serve --backend pycuda` on 127.0.0.1 (a free port), runs the
# service and client tests against it (CUDA_KERNELS_TEST_TARGET; the tests that need their
# own server configuration start in-process pycuda servers, CUDA_KERNELS_TEST_BACKEND), runs
# `bench-service --target` against it, sends SIGTERM and checks the exit status is 0.
# Writes under $OUT (default /tmp/gpu-service-out):
#   service_check.log     everything printed        versions.txt   python/grpc/protobuf/GPU
#   serve.log             the server's log lines    service-tests.xml  junit report
#   service.json          bench-service results: commit under benchmarks/results/<device>/
# Expected run time on an H100: about 1.5-3 minutes. Exit status 0 when everything passed.
# A dry run on a CPU machine: BACKEND=numpy PYTHON=.venv/bin/python OUT=/tmp/x bash ...
set -uo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
OUT=${OUT:-/tmp/gpu-service-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/service_check.log") 2>&1
BACKEND=${BACKEND:-pycuda}
PYTHON=${PYTHON:-python3}
status=0
step() { printf '\n==> %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { echo "FAILED: $*"; [ "$status" -ne 0 ] || status=1; }

step "wheels -> /tmp/site"
wheels=$(ls .whl/*.whl .whl/service/*.whl dist/cuda-kernels/*.whl 2>/dev/null || true)
if [ -z "$wheels" ]; then
    echo "no wheels in .whl/ or .whl/service/ (see this script's header); using what is installed"
else
    # shellcheck disable=SC2086
    "$PYTHON" -m pip install -q --no-index --no-deps --target /tmp/site $wheels || exit 2
fi
export PYTHONPATH=/tmp/site
export PATH=/usr/local/cuda/bin:$PATH   # pycuda's SourceModule runs nvcc

step "versions"
"$PYTHON" - "$BACKEND" <<'PY' 2>&1 | tee "$OUT/versions.txt"
import sys
import grpc, google.protobuf, numpy
print("python", sys.version.split()[0], "grpcio", grpc.__version__,
      "protobuf", google.protobuf.__version__, "numpy", numpy.__version__)
from cuda_kernels._proto import kernels_pb2_grpc  # fails here if the runtime is too old
from cuda_kernels.backends import get_backend
backend = get_backend(sys.argv[1])
print("backend", backend.name, "device", backend.device, "kernels", backend.kernels)
PY
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "the service cannot import or see the GPU; stopping"; exit 3; }

step "serve --backend $BACKEND"
"$PYTHON" -m cuda_kernels.cli serve --host 127.0.0.1 --port 0 --backend "$BACKEND" \
    --grace-seconds 5 > "$OUT/serve.stdout" 2> "$OUT/serve.log" &
serve_pid=$!
address=""
for _ in $(seq 1 360); do  # up to 3 minutes: pycuda compiles the kernels at start-up
    address=$(awk '/^listening on /{print $3; exit}' "$OUT/serve.stdout")
    [ -n "$address" ] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.5
done
if [ -z "$address" ]; then
    echo "the server did not start:"; cat "$OUT/serve.log"; exit 4
fi
cat "$OUT/serve.stdout"

step "service + client tests against $address"
CUDA_KERNELS_TEST_TARGET=$address CUDA_KERNELS_TEST_BACKEND=$BACKEND \
    timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider -rs \
    --junitxml="$OUT/service-tests.xml" \
    packages/cuda-kernels/tests/rpc/test_service.py packages/cuda-kernels/tests/rpc/test_client.py \
    packages/cuda-kernels/tests/rpc/test_stubs.py::test_stubs_import_as_a_subpackage \
    || fail "service tests (exit $?)"

step "bench-service against $address"
timeout 150 "$PYTHON" -m cuda_kernels.cli bench-service --target "$address" --calls 100 \
    --out "$OUT" || fail "bench-service (exit $?)"

step "SIGTERM: drain and exit 0"
kill -TERM "$serve_pid"
wait "$serve_pid"
rc=$?
echo "serve exited with $rc"
[ "$rc" -eq 0 ] || fail "serve exit status $rc"
tail -n 3 "$OUT/serve.log"

step "done: status $status"
exit "$status"
