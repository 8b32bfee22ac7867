"""`python -m pipeline ...` is `threatline ...`: how `threatline run` starts its stage processes
with the same interpreter, whether or not the console script is on PATH."""

from pipeline.cli import main

main()
