"""The one error type the cluster commands raise for the user to read."""

from results.errors import UserError


class ClusterError(UserError, RuntimeError):
    """A cluster operation that cannot go on; the message is one line: the problem and the fix."""
