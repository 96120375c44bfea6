"""Errors a user may see. Each carries a one-line message fit for a status bar or a terminal."""


class UserFacingError(Exception):
    """Bad input or a refused operation; the message is shown as is, without a traceback."""


class MediaError(UserFacingError):
    """A file that is not a readable image or video (wrong type, truncated, zero frames)."""


class NoPersonError(UserFacingError):
    """Tracking found nobody where a person was needed."""


class Cancelled(Exception):
    """A long job stopped because its cancel token was set. Not an error for the user."""
