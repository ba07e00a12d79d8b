"""KernelService's protocol, shared by the client and the server; one job per module
(methods, tensors, chunking, wire, errors, auth, files), each saying its own in its docstring.
"""
