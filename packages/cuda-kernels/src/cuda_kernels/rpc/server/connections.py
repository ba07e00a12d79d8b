"""What a connection to the gRPC port may hold: gRPC's own server options for idle and old
connections, streams per connection, the number of connections and the metadata size; and
the refusal of oversized metadata with a sentence.

Why gRPC's options: gRPC core already closes idle connections (`max_connection_idle_ms`,
a GOAWAY, after which a client reconnects on its next call), ages them out with a grace
period for calls in flight (`max_connection_age_ms`, `..._grace_ms`), caps concurrent
streams per connection (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS), the connections it
accepts (`max_allowed_incoming_connections`: one more is closed at once) and the time a
new connection may take to say hello (`server_handshake_timeout_ms`). Without them, 2,000
idle connections were held as long as their clients liked.

Why the metadata check: gRPC refuses metadata over its limit with RESOURCE_EXHAUSTED but
no details (its own message, which lists the keys, is itself too big to send), and logs a
line no flag silences. So gRPC's hard limit is raised to `METADATA_HARD_LIMIT` and
`MetadataLimit` refuses anything over gRPC's usual 8 KiB itself, saying what was sent and
what fits; past the hard limit gRPC's own refusal remains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from cuda_kernels.rpc.protocol.errors import abort_with, too_large
from cuda_kernels.rpc.protocol.methods import rewrap_handler

if TYPE_CHECKING:
    from cuda_kernels.rpc.server.config import ServerConfig

METADATA_LIMIT = 8 * 1024  # gRPC's default: what every client and proxy lets through
METADATA_HARD_LIMIT = 256 * 1024  # past this gRPC refuses on its own, without details
_ENTRY_OVERHEAD = 32  # HTTP/2 (HPACK) counts each header as name + value + 32 bytes


def connection_options(config: ServerConfig) -> list[tuple[str, Any]]:
    """gRPC server options for the config's connection limits (`connection_age_seconds`
    0 leaves connections ageless; the others are positive, as `check()` ensures)."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_connection_idle_ms", _ms(config.connection_idle_seconds)),
        ("grpc.max_concurrent_streams", config.streams_per_connection),
        ("grpc.max_allowed_incoming_connections", config.max_connections),
        ("grpc.server_handshake_timeout_ms", _ms(config.handshake_seconds)),
        ("grpc.max_metadata_size", METADATA_HARD_LIMIT),
        ("grpc.absolute_max_metadata_size", METADATA_HARD_LIMIT),
    ]
    if config.connection_age_seconds:
        options += [
            ("grpc.max_connection_age_ms", _ms(config.connection_age_seconds)),
            ("grpc.max_connection_age_grace_ms", _ms(config.connection_age_grace_seconds)),
        ]
    return options


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def metadata_bytes(metadata: Any) -> int:
    """The size of call metadata as HTTP/2 counts it (name + value + 32 per entry)."""
    return sum(
        len(key) + len(value if isinstance(value, bytes) else str(value).encode())
        + _ENTRY_OVERHEAD
        for key, value in metadata or ()
    )


class MetadataLimit(grpc.aio.ServerInterceptor):
    """Calls whose metadata passes `METADATA_LIMIT` bytes are refused with
    RESOURCE_EXHAUSTED and a sentence with the numbers (see the module docstring)."""

    def __init__(self, limit: int = METADATA_LIMIT) -> None:
        self.limit = limit

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata
        size = metadata_bytes(metadata)
        if handler is None or size <= self.limit:
            return handler
        refusal = too_large(
            f"the call's metadata is {size} bytes in {len(metadata)} entries; this server "
            f"takes at most {self.limit} bytes (gRPC's usual limit): send fewer or "
            "smaller headers"
        )

        async def refuse(_request, context: grpc.aio.ServicerContext):
            await abort_with(context, refusal)

        return rewrap_handler(handler, lambda _behavior: refuse)
