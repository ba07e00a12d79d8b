"""The gRPC KernelService: numpy matmul and doublify for other processes and machines.

How a call flows, one hop each:

1. `proto/cuda_kernels/v1/kernels.proto`, the contract; its generated stubs are
   `cuda_kernels._proto`.
2. `rpc.protocol`, used by both ends: method paths and codecs taken from the generated
   descriptors (`methods`), tensors on the wire (`tensors`), streams of chunks
   (`chunking`, `wire`), refusals with their status codes (`errors`).
3. `rpc.client.KernelClient`, numpy in and out.
4. `rpc.server`: `KernelServer` (the asyncio gRPC server, health, reflection, auth, TLS,
   a memory budget, metrics, drain) around `KernelServicer`, which checks a request,
   reserves its memory and hands the arrays to a backend on a worker thread.
5. `cuda_kernels.backends`: `Backend.matmul`, which runs a kernel of `kernels/matmul.cu`.

The client needs only the core dependencies; the server needs the `serve` extra.
"""
