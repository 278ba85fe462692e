"""Errors of the qfleet formats: every bad input raises a ValueError."""


class FormatError(ValueError):
    """Bytes or values that break a qfleet format (C++: InvalidArgument)."""


class ChecksumError(FormatError):
    """A CRC-32C that does not match its bytes (C++: DataLoss)."""


def check_header(kind, version, want_version, flags, reserved):
    """The checks every qfleet header shares: known version, no flags, zero
    reserved field. `kind` is the magic ("QFTC", "QFPL")."""
    if version != want_version:
        raise FormatError(f"unsupported {kind} version {version} (this reader reads "
                          f"{want_version})")
    if flags:
        raise FormatError(f"unknown {kind} flags {flags:#x}")
    if reserved:
        raise FormatError(f"{kind} header reserved field is not 0")
