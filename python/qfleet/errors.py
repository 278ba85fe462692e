"""Errors of the qfleet formats: every bad input raises a ValueError."""


class FormatError(ValueError):
    """Bytes or values that break a qfleet format (C++: InvalidArgument)."""


class ChecksumError(FormatError):
    """A CRC-32C that does not match its bytes (C++: DataLoss)."""
