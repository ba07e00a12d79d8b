"""The benchmarks' code: `kernels` is `cuda-kernels bench`, `service` is
`cuda-kernels bench-service` (their results and GPU-host scripts live in the package's
`benchmarks/` folder).
"""
