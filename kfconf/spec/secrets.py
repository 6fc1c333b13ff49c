"""What a pasted credential looks like: in an env value's name, as a whole value, or inside a longer string."""

from __future__ import annotations

import re

SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
_TOKENS = (r"AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9]{20,}"
           r"|xox[abp]-[A-Za-z0-9-]{10,}")
SECRET_VALUE = re.compile(rf"^({_TOKENS}|-----BEGIN [A-Z ]*PRIVATE KEY-----)")
# the same credentials anywhere inside a longer string (a command line, a URI with a password)
SECRET_INSIDE = re.compile(rf"(?<![A-Za-z0-9])({_TOKENS}|-----BEGIN [A-Z ]*PRIVATE KEY-----"
                           r"|[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@)")
# Over a file's text, before parsing: every string SECRET_INSIDE matches after parsing matches this in the
# text. Parsing can only join text into such a match through an escape (a backslash) or by folding lines
# (a space or newline between the parts, which SECRET_INSIDE allows only in a key header, so any
# "-----BEGIN" counts).
_IN_TEXT = re.compile(rf"{_TOKENS}|-----BEGIN|://[^/\s:@]+:[^/\s@]+@|\\")


def could_hold_credentials(text: str) -> bool:
    """Whether any string in this YAML text may look like a credential (one C scan of the whole text)."""
    return _IN_TEXT.search(text) is not None
