"""`python -m cli` runs the holdfast command (what the console script does)."""

from cli.main import main

main()
