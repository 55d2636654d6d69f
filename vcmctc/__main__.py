"""``python -m vcmctc``: the command line."""

from vcmctc.console import main

main()
