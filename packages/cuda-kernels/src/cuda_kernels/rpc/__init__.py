"""The gRPC KernelService: numpy matmul and doublify for other processes and machines.

`protocol` is shared by both ends, `client.KernelClient` is the client (core dependencies
only), `server` the server (the `serve` extra); the package README traces one call through
them.
"""
