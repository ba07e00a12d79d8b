"""The bearer token: how a client sends it, how a server reads it, and the token file.

Why in the protocol: the client (`KernelClient(token=...)`, `bench-service --token-file`)
and the server (`serve --auth-token-file`) must agree on the header, on what a token may
contain and on how a token file is read, so both take the rules from here:

- a token is one line of visible ASCII (no spaces or control characters), at most
  `MAX_TOKEN_CHARS` long: anything else cannot travel in HTTP/2 metadata, or does not fit
  its size limit, so a server started with it could never be reached;
- a token file must not be readable by group or others (like ssh's private keys: we
  refuse rather than warn, since a warning scrolls by while the secret stays exposed); its
  surrounding whitespace is stripped;
- the scheme is matched without regard to case (`Bearer`, `bearer`: RFC 6750 and RFC 7235).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cuda_kernels.rpc.protocol.files import read_regular_file

AUTH_METADATA_KEY = "authorization"
SCHEME = "Bearer"
MAX_TOKEN_CHARS = 4096  # gRPC's default metadata limit is 8 KiB for all headers together
_MAX_FILE_BYTES = 64 * 1024  # read no further: /dev/zero is not a token file


def check_token(token: str) -> str:
    """`token` when it can travel as `authorization: Bearer <token>`; else ValueError."""
    if not isinstance(token, str) or not token:
        raise ValueError("the token is empty; use a non-empty token")
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError(
            f"the token has {len(token)} characters; at most {MAX_TOKEN_CHARS} fit in "
            "gRPC metadata (use e.g. 32 random bytes in hex: `openssl rand -hex 32`)"
        )
    if "\n" in token or "\r" in token:
        raise ValueError("the token has several lines; a token is one line")
    if any(not 0x21 <= ord(char) <= 0x7E for char in token):
        raise ValueError(
            "the token must be visible ASCII without spaces or control characters "
            "(e.g. `openssl rand -hex 32`)"
        )
    return token


def bearer_value(token: str) -> str:
    """The metadata value that carries `token`: `Bearer <token>`."""
    return f"{SCHEME} {check_token(token)}"


def token_of(value: str | bytes) -> bytes | None:
    """The token of an `authorization` value with the Bearer scheme in any case, else None."""
    raw = value.encode() if isinstance(value, str) else value
    scheme, _, token = raw.partition(b" ")
    if scheme.lower() != SCHEME.lower().encode() or not token:
        return None
    return token.strip(b" ")


def read_token_file(path: str | Path) -> str:
    """The token in `path`, stripped of surrounding whitespace; ValueError saying what to
    fix when the file is missing, not a regular file (a FIFO would block, /dev/null is no
    secret to `chmod`), open to group or others, empty, too big, or not one token line."""
    what = "the auth token file"
    raw = read_regular_file(path, what, _MAX_FILE_BYTES, private=True)
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not ASCII text") from None
    if not token:
        raise ValueError(f"{what} {path} is empty; write the token into it")
    try:
        return check_token(token)
    except ValueError as exc:
        raise ValueError(f"{what} {path}: {exc}") from None


def is_loopback(host: str) -> bool:
    """`host` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def target_addresses(target: str) -> list[tuple[str, int]]:
    """(host, port) of each address in a gRPC target ("h:p", "ipv4:h:p,h:p",
    "dns:///h:p", "[::1]:p"; port 443 when none is given); empty for a Unix socket."""
    if target.startswith(("unix:", "unix-abstract:")):
        return []
    for scheme in ("ipv4:", "ipv6:", "dns:///", "dns:"):
        if target.startswith(scheme):
            target = target[len(scheme) :]
            break
    addresses = []
    for address in target.split(","):
        if address.startswith("["):
            host, _, rest = address[1:].partition("]")
            port = rest.lstrip(":")
        elif address.count(":") == 1:
            host, port = address.split(":")
        else:
            host, port = address, ""
        addresses.append((host, int(port) if port.isdigit() else 443))
    return addresses


def leaves_the_machine(target: str) -> bool:
    """Some host of `target` is not this machine (so a plaintext token could be read)."""
    return not all(is_loopback(host) for host, _ in target_addresses(target))
