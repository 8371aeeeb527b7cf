"""Domain exceptions, named after the AWS error codes botocore maps to typed exceptions.

Each carries the code botocore reads (``__type`` / ``x-amzn-ErrorType``) and a
message that names the offending field, so a client can act on it.  HTTP
status depends on the protocol (see ``picks.wire.protocol``).
"""

from __future__ import annotations

# Messages quote user values; a quote is cut to this many characters so an error never echoes a large input.
QUOTED_PREFIX = 64


def excerpt(value: str, limit: int = QUOTED_PREFIX) -> str:
    """``value`` as an error message may quote it: its first ``limit`` characters, "..." if cut."""
    return value if len(value) <= limit else value[:limit] + "..."


class PicksError(Exception):
    """Base class; ``code`` is the AWS error code, ``status`` the REST-JSON status."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputException(PicksError):
    code = "InvalidInputException"
    status = 400


class InvalidNextTokenException(PicksError):
    code = "InvalidNextTokenException"
    status = 400


class LimitExceededException(PicksError):
    code = "LimitExceededException"
    status = 400


class ResourceAlreadyExistsException(PicksError):
    code = "ResourceAlreadyExistsException"
    status = 400


class ResourceInUseException(PicksError):
    code = "ResourceInUseException"
    status = 409


class ResourceNotFoundException(PicksError):
    code = "ResourceNotFoundException"
    status = 404


class TooManyTagsException(PicksError):
    code = "TooManyTagsException"
    status = 400


class TooManyTagKeysException(PicksError):
    code = "TooManyTagKeysException"
    status = 400


class UnknownOperationException(PicksError):
    code = "UnknownOperationException"
    status = 400
