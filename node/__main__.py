"""`python -m node` is the `troth` command."""

from .cli import main

main()
