"""The committed stubs match the contract and the pinned generator."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels._proto import kernels_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[4]
GEN_PROTO = ROOT / "scripts" / "gen_proto.py"
# The generator is a dev tool: the GPU host runs these tests without it, and stub freshness
# is checked where the dev group is installed (`.ci/run`'s test step).
needs_generator = pytest.mark.skipif(
    importlib.util.find_spec("grpc_tools") is None,
    reason="grpcio-tools (the stub generator, a dev dependency) is not installed here",
)


def _load_gen_proto():
    spec = importlib.util.spec_from_file_location("gen_proto_under_test", GEN_PROTO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_generator
def test_committed_stubs_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(GEN_PROTO), "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


@needs_generator
def test_check_reports_a_stale_a_missing_and_an_extra_file(tmp_path: Path) -> None:
    gen_proto = _load_gen_proto()
    expected = gen_proto.generate()
    for name, content in expected.items():
        (tmp_path / name).write_bytes(content)
    assert gen_proto.stale_files(expected, tmp_path) == []
    (tmp_path / "kernels_pb2.py").write_bytes(b"# edited by hand\n")
    (tmp_path / "kernels_pb2.pyi").unlink()
    (tmp_path / "old_pb2.py").write_text("")
    assert gen_proto.stale_files(expected, tmp_path) == [
        "kernels_pb2.py (differs)",
        "kernels_pb2.pyi (missing)",
        "old_pb2.py (not generated: remove it)",
    ]


def test_stubs_import_as_a_subpackage() -> None:
    assert pb.MatMulRequest.__module__ == "cuda_kernels._proto.kernels_pb2"
    assert pb_grpc.KernelServiceStub.__module__ == "cuda_kernels._proto.kernels_pb2_grpc"
    assert pb.DESCRIPTOR.name == "cuda_kernels/v1/kernels.proto"
    assert pb.DESCRIPTOR.package == "cuda_kernels.v1"


# The contract other programs are written against: names and field numbers never change.
CONTRACT_FIELDS = {
    "Tensor": {"dtype": 1, "shape": 2, "data": 3},
    "MatMulRequest": {"request_id": 1, "a": 2, "b": 3, "kernel": 4},
    "MatMulResponse": {"request_id": 1, "c": 2, "kernel": 3, "backend": 4, "compute_ns": 5},
    "DoublifyRequest": {"request_id": 1, "x": 2},
    "DoublifyResponse": {"request_id": 1, "y": 2, "backend": 3, "compute_ns": 4},
    "Chunk": {"offset": 1, "data": 2},
    "MatMulStreamRequest": {"header": 1, "chunk": 2},
    "MatMulStreamResponse": {"header": 1, "chunk": 2},
    "DoublifyStreamRequest": {"header": 1, "chunk": 2},
    "DoublifyStreamResponse": {"header": 1, "chunk": 2},
    "GetInfoRequest": {},
    "GetInfoResponse": {
        "backend": 1,
        "device": 2,
        "kernels": 3,
        "max_message_bytes": 4,
        "max_tensor_bytes": 5,
        "version": 6,
    },
}


@pytest.mark.parametrize("message", sorted(CONTRACT_FIELDS))
def test_contract_field_numbers(message: str) -> None:
    descriptor = pb.DESCRIPTOR.message_types_by_name[message]
    found = {field.name: field.number for field in descriptor.fields}
    for name, number in CONTRACT_FIELDS[message].items():
        assert found.get(name) == number, f"{message}.{name} must keep number {number}"


def test_contract_enum_and_service() -> None:
    assert dict(pb.DType.items()) == {"DTYPE_UNSPECIFIED": 0, "DTYPE_FLOAT32": 1}
    service = pb.DESCRIPTOR.services_by_name["KernelService"]
    methods = {m.name: (m.input_type.name, m.output_type.name) for m in service.methods}
    assert methods == {
        "MatMul": ("MatMulRequest", "MatMulResponse"),
        "Doublify": ("DoublifyRequest", "DoublifyResponse"),
        "MatMulStream": ("MatMulStreamRequest", "MatMulStreamResponse"),
        "DoublifyStream": ("DoublifyStreamRequest", "DoublifyStreamResponse"),
        "GetInfo": ("GetInfoRequest", "GetInfoResponse"),
    }
    streaming = {
        m.name: (m.client_streaming, m.server_streaming) for m in service.methods
    }
    assert streaming["MatMulStream"] == (True, True)
    assert streaming["DoublifyStream"] == (True, True)
    assert streaming["MatMul"] == (False, False)
