"""The one version string: the build backend, the User-Agent and ``--version`` read it."""

__version__ = "0.2.0"
