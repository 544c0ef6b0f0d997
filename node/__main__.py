"""`python -m node` is the `troth` command."""

from node.app.cli import main

main()
