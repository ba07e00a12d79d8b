"""Generated gRPC stubs of `proto/cuda_kernels/v1/kernels.proto`. DO NOT EDIT.

Made by `scripts/gen_proto.py` with grpcio-tools==1.76.0; `gen_proto.py --check` fails when
these files are stale.
"""

from . import kernels_pb2, kernels_pb2_grpc

__all__ = ["kernels_pb2", "kernels_pb2_grpc"]
