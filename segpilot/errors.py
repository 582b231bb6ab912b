"""User-facing errors.

Every check at a boundary (file, CLI flag, ROS message, tensor shape) raises
`SegpilotError` with one line that says what was expected and what was found.
The CLI turns it into `segpilot: error: ...` and exit status 2, without a traceback.
"""


class SegpilotError(ValueError):
    """Bad input that the user can fix; the message is one line naming what was expected."""
