"""Errors of the local services, each a one-line message that says what to install or delete."""


class InfraError(Exception):
    """A local service could not be started, found or stopped."""
