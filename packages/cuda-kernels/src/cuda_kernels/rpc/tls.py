"""A self-signed TLS certificate for trying the service with TLS on one machine.

Why in the package: a TLS server needs a certificate before anything can be tried, and the
service's tests, the trainer's tests and a user's first TLS run all need the same kind of
one: valid for a day, for the names a local client dials, its own CA (so the client trusts
it with `tls_ca=certificate`). For production, use a certificate from your CA. It needs the
`cryptography` package, which the workspace's dev groups install.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence


def self_signed_certificate(
    names: Sequence[str] = ("localhost", "127.0.0.1"), days: int = 1
) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for `names` (host names or IP addresses).

    Raises:
        ImportError: `cryptography` is not installed (the message says so).
        ValueError: no names, or `days` below 1.
    """
    if not names or days < 1:
        raise ValueError("a certificate needs at least one name and days >= 1")
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as exc:
        raise ImportError(
            "self_signed_certificate needs the cryptography package (in the workspace's dev "
            f"groups; elsewhere install it next to cuda-kernels): {exc}"
        ) from exc
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_san(n, x509) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _san(name: str, x509):
    """An IP address entry for an address, a DNS entry for anything else."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


__all__ = ["self_signed_certificate"]
