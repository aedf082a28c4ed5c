"""TLS for SMTP: verified by default (system store plus ``FALCANA_CA_BUNDLE``), TLS 1.2+.

There is no switch that turns verification off. Instead an admin pins one server's
certificate by its SHA-256 fingerprint: then exactly that certificate is accepted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import ssl
from pathlib import Path
from typing import Any

from falcana_core.api.net import tls_context

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


class PinMismatch(Exception):
    """The server's certificate is not the pinned one: nothing more is sent."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"certificate fingerprint {got} is not the pinned {expected}")
        self.expected = expected
        self.got = got


def normalise_fingerprint(value: str) -> str | None:
    """"AB:CD:..." or "abcd..." -> 64 lowercase hex digits, else None."""
    cleaned = value.strip().lower().replace(":", "").replace(" ", "")
    if cleaned.startswith("sha256"):
        cleaned = cleaned[6:].lstrip("=")
    return cleaned if _FINGERPRINT.match(cleaned) else None


def client_context(ca_bundle: Path | None, pin: str | None) -> ssl.SSLContext:
    """Verify against the system store (+ bundle); with a pin, accept exactly that cert."""
    if pin:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the pin is checked right after the handshake
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx
    return tls_context(ca_bundle)


def unverified_context() -> ssl.SSLContext:
    """Only to fetch a certificate to offer a pin: nothing is sent on such a connection."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def check_pin(sock: ssl.SSLSocket, pin: str | None) -> None:
    if not pin:
        return
    der = sock.getpeercert(binary_form=True) or b""
    got = fingerprint(der)
    if got != pin:
        raise PinMismatch(pin, got)


@dataclasses.dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    not_after: str
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def certificate_info(der: bytes) -> CertificateInfo:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc.isoformat(),
        sha256=fingerprint(der),
    )


def session_info(sock: ssl.SSLSocket) -> dict[str, Any]:
    """TLS version, cipher and the server certificate, for the step log."""
    info: dict[str, Any] = {"tls_version": sock.version()}
    cipher = sock.cipher()
    if cipher:
        info["cipher"] = cipher[0]
    der = sock.getpeercert(binary_form=True)
    if der:
        info["certificate"] = certificate_info(der).as_dict()
    return info
