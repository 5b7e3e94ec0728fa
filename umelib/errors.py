"""User-facing errors: one line that says what is wrong and how to fix it."""


class UmeError(Exception):
    """A problem with the user's input (data, names, options). The CLI prints it and exits 2."""


def exit_code(main) -> int:
    """Run a script's ``main()`` (no arguments); a :class:`UmeError` becomes one ``error:`` line on stderr and exit
    code 2, as in the CLI."""
    import sys

    try:
        main()
    except UmeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
