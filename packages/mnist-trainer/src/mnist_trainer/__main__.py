"""`python -m mnist_trainer` (also what `torchrun -m mnist_trainer` runs)."""

from mnist_trainer.cli import main

raise SystemExit(main())
