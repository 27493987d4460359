"""The encrypted transfer format: X25519 key agreement, HKDF, and AES-256-GCM in authenticated chunks.

Layout (integers big-endian):

    header  magic "SFMENC1\\n" | version (1) | chunk size (4) | recipient fingerprint (16, ASCII hex)
            | ephemeral public key (32) | HKDF salt (32) | nonce prefix (7)
    chunks  ciphertext length (4) | AES-GCM ciphertext and tag

A fresh ephemeral key pair and salt for every file give a fresh AES key, sealed
so that only the recipient's private key can derive it. The file is encrypted
a chunk at a time, so neither side ever holds it whole. Each chunk's nonce is
the prefix, the chunk's index and a flag that marks the final chunk, and the
whole header is authenticated with every chunk: a changed byte, swapped
chunks, a cut-off file or bytes added after the end all fail to decrypt.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from data.errors import SfmatchError
from pseudonymise.keys import public_fingerprint

MAGIC = b"SFMENC1\n"
VERSION = 1
CHUNK_SIZE = 1 << 20
# A header is read before it can be authenticated: its chunk size must not make the reader allocate at will.
MAX_CHUNK_SIZE = 16 << 20
TAG_BYTES = 16
_HEADER = struct.Struct(">8sBI16s32s32s7s")
_LENGTH = struct.Struct(">I")


class TransferError(SfmatchError):
    """An encrypted file that cannot be opened: altered, truncated, reordered or for another key."""


@dataclass(frozen=True)
class Header:
    chunk_size: int
    recipient: str
    ephemeral: bytes
    salt: bytes
    prefix: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, self.chunk_size, self.recipient.encode("ascii"), self.ephemeral,
                            self.salt, self.prefix)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _derive(shared: bytes, header: Header, recipient_raw: bytes) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=header.salt,
        info=b"sfmatch-transfer-v1" + header.ephemeral + recipient_raw,
    ).derive(shared)
    return AESGCM(key)


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")


def encrypt_stream(source: BinaryIO, target: BinaryIO, recipient: X25519PublicKey, chunk_size: int = CHUNK_SIZE) -> int:
    """Encrypt everything readable from `source` into `target`; returns the number of chunks."""
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise TransferError(f"chunk size {chunk_size:,} is outside 1 byte to {MAX_CHUNK_SIZE:,} bytes")
    ephemeral = X25519PrivateKey.generate()
    header = Header(chunk_size, public_fingerprint(recipient), _raw(ephemeral.public_key()), os.urandom(32), os.urandom(7))
    packed = header.pack()
    cipher = _derive(ephemeral.exchange(recipient), header, _raw(recipient))
    target.write(packed)
    index = 0
    current = source.read(chunk_size)
    while True:
        following = source.read(chunk_size)
        final = not following
        sealed = cipher.encrypt(_nonce(header.prefix, index, final), current, packed)
        target.write(_LENGTH.pack(len(sealed)) + sealed)
        index += 1
        if final:
            return index
        if index >= 2**32 - 1:
            raise TransferError("the file is too large for this format")
        current = following


def _read_exact(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    return data if data is not None else b""


def decrypt_stream(source: BinaryIO, target: BinaryIO, private: X25519PrivateKey, name: str = "the file") -> int:
    """Decrypt into `target`; raises TransferError, naming what is wrong, on any mismatch."""
    raw_header = _read_exact(source, _HEADER.size)
    if len(raw_header) < _HEADER.size or not raw_header.startswith(MAGIC):
        raise TransferError(f"{name}: not an sfmatch encrypted file (or cut off inside its header)")
    magic, version, chunk_size, recipient, ephemeral, salt, prefix = _HEADER.unpack(raw_header)
    if version != VERSION:
        raise TransferError(f"{name}: format version {version} is not supported (expected {VERSION})")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise TransferError(f"{name}: the header is damaged (a chunk size of {chunk_size:,} bytes)")
    mine = public_fingerprint(private.public_key())
    if recipient.decode("ascii", "replace") != mine:
        raise TransferError(f"{name}: encrypted for recipient key {recipient.decode('ascii', 'replace')}, "
                            f"not for this private key ({mine})")
    header = Header(chunk_size, mine, ephemeral, salt, prefix)
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    except ValueError:
        raise TransferError(f"{name}: the header is damaged") from None
    cipher = _derive(shared, header, _raw(private.public_key()))
    index = 0
    while True:
        length_bytes = _read_exact(source, _LENGTH.size)
        if not length_bytes:
            raise TransferError(f"{name}: truncated: it ends before its final chunk (after chunk {index})")
        if len(length_bytes) < _LENGTH.size:
            raise TransferError(f"{name}: truncated inside chunk {index + 1}")
        (length,) = _LENGTH.unpack(length_bytes)
        if length > chunk_size + TAG_BYTES or length < TAG_BYTES:
            raise TransferError(f"{name}: chunk {index + 1} has an impossible length: the file was altered")
        sealed = _read_exact(source, length)
        if len(sealed) < length:
            raise TransferError(f"{name}: truncated inside chunk {index + 1}")
        plain = None
        for final in (False, True):
            try:
                plain = cipher.decrypt(_nonce(prefix, index, final), sealed, raw_header)
                break
            except InvalidTag:
                continue
        if plain is None:
            raise TransferError(
                f"{name}: chunk {index + 1} failed authentication: the file was altered, its chunks were "
                "reordered, or it was not made for this key"
            )
        target.write(plain)
        index += 1
        if final:
            if _read_exact(source, 1):
                raise TransferError(f"{name}: data follows the final chunk: the file was altered")
            return index


def encrypt_file(plain: Path, encrypted: Path, recipient: X25519PublicKey, chunk_size: int = CHUNK_SIZE) -> int:
    with plain.open("rb") as source, encrypted.open("wb") as target:
        return encrypt_stream(source, target, recipient, chunk_size)


def decrypt_file(encrypted: Path, plain: Path, private: X25519PrivateKey) -> int:
    """Decrypt to `plain`, readable by its owner only; nothing is left behind unless the whole file checked out."""
    partial = plain.with_name(plain.name + ".partial")
    try:
        partial.unlink(missing_ok=True)  # a file left by a crash may have looser permissions
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with encrypted.open("rb") as source, os.fdopen(descriptor, "wb") as target:
            chunks = decrypt_stream(source, target, private, encrypted.name)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise TransferError(f"{encrypted.name}: cannot be read ({exc.strerror})") from None
    except TransferError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(plain)
    return chunks
