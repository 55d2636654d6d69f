"""``python -m vcmctc``: the command line."""

from vcmctc.cli import entry

entry()
