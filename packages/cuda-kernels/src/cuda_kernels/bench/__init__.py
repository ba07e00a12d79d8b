"""`cuda-kernels bench`: validate every kernel, then time it beside cuBLAS and numpy.

Modules: `validate` (float64 reference checks), `timing` (CUDA-event and wall-clock
medians), `gpu` and `cpu` (the two measurement runs), `report` (table, results.json,
plots), `cli` (the subcommand).
"""
