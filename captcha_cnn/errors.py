"""The one exception type the command line turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """A problem the user can fix (a config, a path, a run directory), described in one line."""
