"""User-facing errors: one line that says what is wrong and how to fix it."""


class UmeError(Exception):
    """A problem with the user's input (data, names, options). The CLI prints it and exits 2."""
