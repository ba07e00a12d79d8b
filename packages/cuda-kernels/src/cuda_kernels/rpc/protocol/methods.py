"""KernelService's methods as the generated code describes them, each with its codec.

Why one table: the service name and the method paths come from `kernels_pb2.DESCRIPTOR`,
never from strings typed by hand, and each method's serializers are chosen here once:
protobuf's for unary messages, the hand-written chunk codec of `wire` for stream messages.
The server builds its handlers (`method_handlers`) and the client its callables
(`client_methods`) from this one table, so the two ends cannot disagree.

A deserializer never raises: bytes that do not parse become their refusal, a
`ServiceError` returned in the message's place (`check_parsed` raises it), which the server
answers with INVALID_ARGUMENT and the client reports as DATA_LOSS. (An exception there would
reach gRPC itself, which answers INTERNAL, a code reserved for server faults, and logs a
traceback per message.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from cuda_kernels._proto import kernels_pb2 as pb
from cuda_kernels.rpc.protocol.errors import ServiceError, invalid
from cuda_kernels.rpc.protocol.wire import decode_chunk, serialize_stream_message

SERVICE = pb.DESCRIPTOR.services_by_name["KernelService"]
SERVICE_NAME: str = SERVICE.full_name  # "cuda_kernels.v1.KernelService"


def rpc_kind(request_streaming: bool, response_streaming: bool) -> str:
    """gRPC's word for a method's shape: "unary_unary", "stream_stream", and so on; the
    server's handler is made by `grpc.<kind>_rpc_method_handler`, the client's callable by
    `channel.<kind>`."""
    requests = "stream" if request_streaming else "unary"
    responses = "stream" if response_streaming else "unary"
    return f"{requests}_{responses}"


def check_parsed(message: Any) -> Any:
    """`message`, unless its bytes did not parse: then the deserializer returned the
    INVALID_ARGUMENT refusal instead of raising it, and it is raised here."""
    if isinstance(message, ServiceError):
        raise message
    return message


def _serializer(message_type: type, streaming: bool) -> Callable[[Any], bytes]:
    return serialize_stream_message if streaming else message_type.SerializeToString


def _deserializer(message_type: type, streaming: bool) -> Callable[[bytes], Any]:
    type_name = message_type.DESCRIPTOR.full_name

    def deserialize(raw: bytes) -> Any:
        try:
            part = decode_chunk(raw) if streaming else None  # the fast path, plain chunks only
            return part if part is not None else message_type.FromString(raw)
        except (DecodeError, ValueError, RecursionError) as exc:
            reason = (str(exc) or "cannot parse")[:200]
            return invalid(
                f"a {len(raw)}-byte message is not a valid {type_name} ({reason}); "
                "send a message built from kernels.proto"
            )

    return deserialize


@dataclass(frozen=True)
class Method:
    """One RPC of the service: its path, message classes and shape."""

    name: str
    path: str
    request_type: type
    response_type: type
    request_streaming: bool
    response_streaming: bool

    @classmethod
    def from_descriptor(cls, method: Any) -> Method:
        return cls(
            name=method.name,
            path=f"/{SERVICE_NAME}/{method.name}",
            request_type=getattr(pb, method.input_type.name),
            response_type=getattr(pb, method.output_type.name),
            request_streaming=method.client_streaming,
            response_streaming=method.server_streaming,
        )

    @property
    def kind(self) -> str:
        return rpc_kind(self.request_streaming, self.response_streaming)

    def handler(self, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
        """The server side: requests decoded, responses encoded by this method's codec."""
        return getattr(grpc, f"{self.kind}_rpc_method_handler")(
            behavior,
            request_deserializer=_deserializer(self.request_type, self.request_streaming),
            response_serializer=_serializer(self.response_type, self.response_streaming),
        )

    def callable_on(self, channel: grpc.Channel) -> Any:
        """The client side: a multi-callable on `channel` with this method's codec."""
        return getattr(channel, self.kind)(
            self.path,
            request_serializer=_serializer(self.request_type, self.request_streaming),
            response_deserializer=_deserializer(self.response_type, self.response_streaming),
        )


METHODS: Mapping[str, Method] = {m.name: Method.from_descriptor(m) for m in SERVICE.methods}


def method_handlers(
    behaviors: Mapping[str, Callable[..., Any]],
) -> dict[str, grpc.RpcMethodHandler]:
    """Every method's handler around its behavior (method name -> coroutine function);
    KeyError names a method of the contract that has no behavior."""
    missing = sorted(set(METHODS) - set(behaviors))
    if missing:
        raise KeyError(f"no behavior for {', '.join(missing)} of {SERVICE_NAME}")
    return {name: method.handler(behaviors[name]) for name, method in METHODS.items()}


def client_methods(channel: grpc.Channel) -> dict[str, Any]:
    """Every method as a multi-callable on `channel`, keyed by method name."""
    return {name: method.callable_on(channel) for name, method in METHODS.items()}
