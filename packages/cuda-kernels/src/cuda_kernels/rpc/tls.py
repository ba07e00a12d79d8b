"""TLS helpers: a self-signed certificate for trying the service with TLS on one machine,
the check of a server's certificate and key before it starts, and the diagnosis of a
client's failed TLS connection.

Why a self-signed certificate in the package: a TLS server needs a certificate before
anything can be tried, and the service's tests, the trainer's tests and a user's first TLS
run all need the same kind of one: valid for a day, for the names a local client dials, its
own CA (so the client trusts it with `tls_ca=certificate`). For production, use a
certificate from your CA. It needs the `cryptography` package, which the workspace's dev
groups install.

Why check the certificate and key ourselves: gRPC reads them only when it binds, and a
bad one (garbage, empty, the two files swapped, a key of another certificate) then
surfaces as "cannot listen ... (port in use?)". Python's `ssl` module (always there, unlike
`cryptography`) parses both and checks that the key belongs to the certificate.

Why diagnose a client's failure ourselves: gRPC reports the error of the last address it
tried, so through `localhost` (::1, then 127.0.0.1) an expired certificate or a wrong name
on 127.0.0.1 came out as "ipv6:[::1]: Connection refused"; the real reason was only in
gRPC's INFO lines. `diagnose_tls` repeats the handshake with Python's `ssl`, which says
what failed ("certificate has expired", "Hostname mismatch ...").
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from cuda_kernels.rpc.protocol.auth import target_addresses

_CERT_MARK = b"-----BEGIN CERTIFICATE-----"
_KEY_MARK = b"PRIVATE KEY-----"


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
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def check_server_credentials(certificate: bytes, key: bytes) -> None:
    """ValueError in one sentence when the PEM `certificate` chain and private `key` cannot
    serve TLS: empty, not PEM, swapped, encrypted, or a key of another certificate."""
    for what, data, mark, kind in (
        ("certificate (--tls-cert)", certificate, _CERT_MARK, "a PEM certificate"),
        ("key (--tls-key)", key, _KEY_MARK, "a PEM private key"),
    ):
        if not data.strip():
            raise ValueError(f"cannot load the TLS {what}: the file is empty")
        if mark not in data:
            holds = "a private key" if mark == _CERT_MARK else "a certificate"
            swapped = f" (it holds {holds}: are --tls-cert and --tls-key swapped?)"
            other = _KEY_MARK if mark == _CERT_MARK else _CERT_MARK
            raise ValueError(
                f"cannot load the TLS {what}: not {kind}" + (swapped if other in data else "")
            )
    if b"ENCRYPTED" in key:  # PKCS#8's "ENCRYPTED PRIVATE KEY", or an older Proc-Type line
        raise ValueError(
            "cannot load the TLS key (--tls-key): it is encrypted; gRPC needs it "
            "unencrypted (`openssl pkey -in KEY -out PLAIN_KEY`, then `chmod 600`)"
        )
    try:
        ssl.create_default_context().load_verify_locations(cadata=certificate.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(
            f"cannot load the TLS certificate (--tls-cert): not a PEM certificate ({exc})"
        ) from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with _pem_files(certificate, key) as (cert_path, key_path):
        try:
            context.load_cert_chain(cert_path, key_path, password=b"")  # never prompts
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise ValueError(
                    "the TLS key (--tls-key) does not belong to the certificate "
                    "(--tls-cert); give the key the certificate was made for"
                ) from None
            raise ValueError(
                f"cannot load the TLS key (--tls-key): not a usable PEM private key ({exc})"
            ) from None


@contextlib.contextmanager
def _pem_files(certificate: bytes, key: bytes) -> Iterator[tuple[str, str]]:
    """Paths holding `certificate` and `key`, which `ssl` can only load from files: memory
    files where the system has them (the key never touches a disk), else files in a
    private temporary folder, removed at once."""
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        descriptors = [os.memfd_create(name) for name in ("tls-cert", "tls-key")]
        try:
            for descriptor, data in zip(descriptors, (certificate, key), strict=True):
                os.write(descriptor, data)
            yield tuple(f"/proc/self/fd/{d}" for d in descriptors)  # type: ignore[misc]
        finally:
            for descriptor in descriptors:
                os.close(descriptor)
        return
    with tempfile.TemporaryDirectory(prefix="cuda-kernels-tls-") as folder:
        paths = (Path(folder) / "cert.pem", Path(folder) / "key.pem")
        for path, data in zip(paths, (certificate, key), strict=True):
            path.write_bytes(data)
        yield str(paths[0]), str(paths[1])


def diagnose_tls(
    target: str, ca_pem: bytes, server_name: str | None = None, timeout: float = 5.0
) -> str | None:
    """Why a TLS connection to the gRPC `target` fails, in one sentence, or None when no
    address of it both accepts a connection and refuses the handshake (then TLS is not
    the problem). Each address gets one connection and handshake of at most `timeout` s."""
    try:
        context = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
        return f"the trusted certificate (tls_ca) is not a PEM certificate ({exc})"
    context.set_alpn_protocols(["h2"])
    for host, port in target_addresses(target):
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            continue
        for family, kind, proto, _, address in found:
            reason = _handshake(context, family, kind, proto, address, server_name or host,
                                timeout)  # fmt: skip
            if reason is not None:
                return f"the TLS handshake with {host}:{port} ({address[0]}) failed: {reason}"
    return None


def _handshake(context, family, kind, proto, address, name: str, timeout: float) -> str | None:
    """The reason a handshake with `address` fails; None when it succeeds or nothing
    answers there (no connection, no TLS problem to report)."""
    with socket.socket(family, kind, proto) as raw:
        raw.settimeout(timeout)
        try:
            raw.connect(address)
        except OSError:
            return None
        try:
            with context.wrap_socket(raw, server_hostname=name):
                return None
        except ssl.SSLCertVerificationError as exc:
            return f"{exc.verify_message} (the name checked: {name})"
        except ssl.SSLError as exc:
            return exc.reason or str(exc)
        except OSError as exc:
            return f"the server closed the connection during the handshake ({exc})"
