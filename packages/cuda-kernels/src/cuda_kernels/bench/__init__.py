"""The benchmarks' code (their results and GPU-host scripts live in the package's
`benchmarks/` folder).

- `kernels`: `cuda-kernels bench`, `BenchRun`: validate every kernel, then time it beside
  cuBLAS and numpy. It uses `gpu` (the GPU side), `validate` (float64 reference checks),
  `timing` (CUDA-event and wall-clock medians) and `report` (table, results.json, plots).
- `service`: `cuda-kernels bench-service`, what the gRPC service costs on top of the
  backend.
"""
