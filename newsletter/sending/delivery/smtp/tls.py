"""TLS for SMTP: which certificates are trusted, and a failed handshake said in words.

The system's trust store (or `SSL_CERT_FILE`), plus `smtp_ca_file` when set: the PEM certificate
of a private CA, or the relay's own self-signed certificate. Verification is never switched off.
"""

from __future__ import annotations

import ssl

from newsletter.config import Settings
from newsletter.errors import BackendConfigError

# OpenSSL verify codes (X509_V_ERR_*) -> what they mean for the person setting up the relay.
_UNTRUSTED = {
    18: "it is self-signed",
    19: "its chain ends in a self-signed certificate",
    20: "it is signed by a certificate authority this machine does not know (a private CA?)",
    21: "the server sent it without the certificate that signed it",
}
_EXPIRED = {9: "it is not valid yet (check this machine's clock)", 10: "it has expired"}
_WRONG_NAME = (62, 64)  # hostname mismatch, IP address mismatch


def client_context(settings: Settings) -> ssl.SSLContext:
    """A verifying client context: the default trust store plus `smtp_ca_file`, if set."""
    context = ssl.create_default_context()
    if settings.smtp_ca_file:
        try:
            context.load_verify_locations(cafile=settings.smtp_ca_file)
        except ssl.SSLError as exc:  # before OSError, its base class
            raise BackendConfigError(
                f"smtp_ca_file {settings.smtp_ca_file}: no PEM certificate in it "
                f"({exc.reason or exc}); give the CA's certificate in PEM form "
                "(-----BEGIN CERTIFICATE-----)"
            ) from None
        except OSError as exc:
            raise BackendConfigError(
                f"smtp_ca_file {settings.smtp_ca_file}: cannot read it: {exc.strerror or exc}"
            ) from None
    return context


def tls_failure(exc: ssl.SSLError, where: str, settings: Settings) -> str:
    """One line for a TLS handshake with the SMTP server `where` that failed with `exc`."""
    if not isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS with SMTP server {where} failed: {exc.reason or exc} "
            "(check smtp_security and smtp_port)"
        )
    code, detail = exc.verify_code, exc.verify_message or str(exc)
    start = f"TLS with SMTP server {where} failed: its certificate is not trusted"
    if code in _WRONG_NAME:
        return (
            f"{start}: it is for another host name ({detail}); set smtp_host to a name the "
            "certificate is for"
        )
    if code in _EXPIRED:
        return f"{start}: {_EXPIRED[code]} ({detail}); the relay needs a current certificate"
    why = _UNTRUSTED.get(code, detail)
    if settings.smtp_ca_file:
        fix = (
            f"smtp_ca_file {settings.smtp_ca_file} does not hold the certificate that signed "
            "it: give the relay's CA certificate (or its self-signed certificate) there"
        )
    else:
        fix = (
            "if the relay uses a private CA or a self-signed certificate, set smtp_ca_file to "
            "that CA's certificate (or the self-signed certificate) in PEM form"
        )
    return f"{start}: {why} ({detail}); {fix}"
