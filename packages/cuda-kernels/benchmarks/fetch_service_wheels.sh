#!/usr/bin/env bash
# fetch_service_wheels.sh: on a CPU machine WITH network, download the cp312 wheels that the
# gRPC service and its tests need on the GPU host (which has no network and may have an
# older grpcio/protobuf than the committed stubs need: grpcio >= 1.76, protobuf 6.31.1-6.x).
#
#     bash packages/cuda-kernels/benchmarks/fetch_service_wheels.sh .whl/service
#
# Versions are those of uv.lock. gpu_service_check.sh installs them into /tmp/site, ahead of
# the host's own packages on PYTHONPATH. About 15 MB.
set -euo pipefail
dest=${1:-.whl/service}
mkdir -p "$dest"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_34_x86_64 -d "$dest" \
    grpcio==1.85.3 protobuf==6.33.6 grpcio-health-checking==1.81.1 \
    grpcio-reflection==1.81.1 typing-extensions==4.16.0 \
    prometheus-client==0.26.0 threadpoolctl==3.8.0 \
    hypothesis==6.170.17 sortedcontainers==2.4.0 \
    cryptography==50.0.2 cffi==2.1.1 pycparser==3.12
ls -1 "$dest"
