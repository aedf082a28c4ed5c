"""E-mail addresses and host names: validation (email-validator, IDNA 2008) and encoding.

Python's built-in ``idna`` codec is IDNA 2003 and turns "straße" into "strasse"; every
domain here goes through the ``idna`` package instead.
"""

from __future__ import annotations

import ipaddress
import re

import idna

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


class AddressError(ValueError):
    """Not a usable address or host; ``code`` says why (for a translated message)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail


def has_control_chars(value: str) -> bool:
    """CR, LF and other control characters: never allowed in a header or setting."""
    return bool(_CONTROL.search(value))


def normalise_address(value: str) -> str:
    """A syntactically valid address (no DNS), domain in its Unicode form, lowercased."""
    from email_validator import (  # loaded on first use: every start pays less
        EmailNotValidError,
        validate_email,
    )

    if has_control_chars(value):
        raise AddressError("control_chars")
    try:
        result = validate_email(value.strip(), check_deliverability=False,
                                allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise AddressError("invalid", str(exc)) from None
    return str(result.normalized)


def ascii_domain(domain: str) -> str:
    """The domain as sent on the wire: IDNA 2008 A-labels ("straße.de" -> "xn--strae-oqa.de")."""
    domain = domain.strip().rstrip(".")
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise AddressError("invalid_domain", str(exc)) from None


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


def ascii_address(address: str) -> str | None:
    """The address with an ASCII domain, or None when the local part needs SMTPUTF8."""
    local, domain = split_address(address)
    if not local.isascii():
        return None
    return f"{local}@{ascii_domain(domain)}"


def normalise_host(value: str) -> str:
    """A host name (IDN allowed, returned in its Unicode form lowercased) or an IP address."""
    value = value.strip()
    if not value:
        raise AddressError("empty")
    if has_control_chars(value) or " " in value:
        raise AddressError("control_chars")
    candidate = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    host = value.rstrip(".").lower()
    try:
        ascii_host = ascii_domain(host)
    except AddressError:
        raise AddressError("invalid_host") from None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise AddressError("invalid_host")
    if labels[-1].isdigit():
        raise AddressError("invalid_host")  # looks like a broken IPv4 address
    return host
