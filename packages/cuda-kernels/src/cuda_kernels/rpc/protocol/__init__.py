"""KernelService's protocol, shared by the client and the server; one job per module.

- `methods`: the service name, method paths and each method's codec, read from the
  generated descriptors; the one place that wires the codec into either end.
- `tensors`: numpy arrays to and from the wire `Tensor`, with the header checks.
- `chunking`: a stream's header and ~1 MiB chunks, cut and reassembled.
- `wire`: the hand-written encoding of the chunk messages (byte for byte protobuf's).
- `errors`: `ServiceError`, a refusal that carries its gRPC status code.
- `auth`: the bearer token and its file; `files`: the small files a user names (token,
  certificates), regular files only.
"""
