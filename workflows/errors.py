"""Typed errors whose messages are written for the person who caused them."""


class ConfideError(Exception):
    """Base for errors a person can act on; `str(error)` is shown to them as is."""

    def __init__(self, message: str, *, field: str | None = None, blocks: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field  # which modal input the message belongs to, when there is one
        self.blocks = blocks  # richer reply (for example an Acknowledge button), when useful


class NotAllowed(ConfideError):
    """The person may not do this."""


class NotFound(ConfideError):
    """The thing named does not exist (or the person may not know it does)."""


class InvalidInput(ConfideError):
    """The input is malformed; the message says what would be right."""


class AlreadyDecided(ConfideError):
    """Someone else got there first."""
