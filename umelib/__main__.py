"""``python -m umelib``: the command line (:mod:`umelib.cli`); Ctrl-C at any moment ends it with one line."""
import sys

try:
    from .cli import main

    code = main()
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    code = 130
raise SystemExit(code)
