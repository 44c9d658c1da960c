"""The one exception type the command line turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """A problem the user can fix (a config, a path, a run directory), described in one line."""


class ConfigError(UserError):
    """A problem with a config file, a plan or an override, phrased for the user in one line."""


class StopSignal(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) turned into an exception, like Ctrl-C's KeyboardInterrupt,
    so that work in progress unwinds: worker pools end, temporary files are removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
