"""The subcommands of the ``deeptag`` command line, one module each; each module has ``register``."""
from . import benchmark, evaluate, report, simulate, strain, track, train

COMMANDS = [track, evaluate, strain, report, train, simulate, benchmark]
