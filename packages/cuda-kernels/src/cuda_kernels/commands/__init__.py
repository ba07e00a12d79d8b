"""The `cuda-kernels` subcommands, one module each: `bench`, `serve`, `bench_service`,
`describe`.

Each module names its subcommand (`NAME`), says what it does (`SUMMARY` in the command
list, `DESCRIPTION` atop its --help), declares its flags (`add_arguments(parser)`: mostly
one per field of the settings dataclass it drives, `cuda_kernels.settings`) and handles
them (`run(args) -> int`, the exit code). A handler turns the flags into the settings of
the code it drives and leaves the work to that code; `cuda_kernels.cli` registers the
modules and turns what a handler raises into one line on stderr and an exit code.
"""
