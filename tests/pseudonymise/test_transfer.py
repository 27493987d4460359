"""Encrypted transfer: round trips of any size; altered, cut, reordered or misaddressed files are refused."""

from __future__ import annotations

import io
import stat
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymise.transfer import _HEADER, _LENGTH, TransferError, decrypt_file, decrypt_stream, encrypt_file, encrypt_stream

PRIVATE = X25519PrivateKey.generate()
SMALL_CHUNK = 64


def encrypt(data: bytes, chunk: int = SMALL_CHUNK) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, PRIVATE.public_key(), chunk)
    return out.getvalue()


def decrypt(blob: bytes, key: X25519PrivateKey = PRIVATE) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, key, "cohort.csv.enc")
    return out.getvalue()


def chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Split an encrypted file into its header and its framed chunks."""
    header, rest, pieces = blob[:_HEADER.size], blob[_HEADER.size:], []
    while rest:
        (length,) = _LENGTH.unpack(rest[:4])
        pieces.append(rest[:4 + length])
        rest = rest[4 + length:]
    return header, pieces


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=1000), st.integers(min_value=1, max_value=300))
def test_any_content_round_trips_at_any_chunk_size(data, chunk):
    assert decrypt(encrypt(data, chunk)) == data


@pytest.mark.parametrize("size", [0, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, SMALL_CHUNK * 5])
def test_boundary_sizes(size):
    data = bytes(range(256)) * (size // 256 + 1)
    assert decrypt(encrypt(data[:size])) == data[:size]


def test_two_encryptions_of_one_file_differ():
    assert encrypt(b"same") != encrypt(b"same")


def test_a_changed_byte_anywhere_is_refused():
    blob = bytearray(encrypt(b"x" * 300))
    for position in (20, _HEADER.size + 10, len(blob) - 1):
        altered = bytearray(blob)
        altered[position] ^= 0x01
        with pytest.raises(TransferError):
            decrypt(bytes(altered))


def test_reordered_chunks_are_refused():
    header, pieces = chunks(encrypt(b"".join(bytes([i]) * SMALL_CHUNK for i in range(4))))
    swapped = header + pieces[1] + pieces[0] + b"".join(pieces[2:])
    with pytest.raises(TransferError, match="chunk 1 failed authentication: .*reordered"):
        decrypt(swapped)


def test_a_file_cut_at_a_chunk_boundary_is_refused_as_truncated():
    header, pieces = chunks(encrypt(b"y" * (SMALL_CHUNK * 3)))
    with pytest.raises(TransferError, match="truncated: it ends before its final chunk"):
        decrypt(header + b"".join(pieces[:2]))


def test_a_file_cut_inside_a_chunk_or_the_header_is_refused():
    blob = encrypt(b"z" * 200)
    with pytest.raises(TransferError, match="truncated inside chunk"):
        decrypt(blob[:-5])
    with pytest.raises(TransferError, match="not an sfmatch encrypted file"):
        decrypt(blob[:40])


def test_bytes_after_the_final_chunk_are_refused():
    with pytest.raises(TransferError, match="data follows the final chunk"):
        decrypt(encrypt(b"w" * 100) + b"\x00")


def test_a_final_chunk_cannot_be_dropped_and_the_previous_one_promoted():
    header, pieces = chunks(encrypt(b"v" * (SMALL_CHUNK * 2)))
    with pytest.raises(TransferError):
        decrypt(header + pieces[0])


def test_another_recipients_key_is_named():
    with pytest.raises(TransferError, match="encrypted for recipient key .*not for this private key"):
        decrypt(encrypt(b"secret"), X25519PrivateKey.generate())


def test_an_impossible_chunk_length_is_refused():
    blob = bytearray(encrypt(b"u" * 10))
    blob[_HEADER.size:_HEADER.size + 4] = struct.pack(">I", 2**31)
    with pytest.raises(TransferError, match="impossible length"):
        decrypt(bytes(blob))


def test_a_header_asking_for_huge_chunks_is_refused_before_anything_is_read():
    blob = bytearray(encrypt(b"u" * 10))
    blob[9:13] = struct.pack(">I", 2**32 - 1)  # the chunk size, after the magic and version
    with pytest.raises(TransferError, match="header is damaged"):
        decrypt(bytes(blob))


def test_files_round_trip_and_a_failed_decryption_leaves_nothing(tmp_path):
    plain, sealed, back = tmp_path / "cohort.csv", tmp_path / "cohort.csv.enc", tmp_path / "out.csv"
    plain.write_bytes(b"a,b\n1,2\n" * 50_000)
    chunks_written = encrypt_file(plain, sealed, PRIVATE.public_key(), chunk_size=64 * 1024)
    assert chunks_written > 1
    assert decrypt_file(sealed, back, PRIVATE) == chunks_written
    assert back.read_bytes() == plain.read_bytes()
    assert stat.S_IMODE(back.stat().st_mode) == 0o600, "the decrypted file is personal data"
    data = bytearray(sealed.read_bytes())
    data[-100] ^= 0xFF
    sealed.write_bytes(bytes(data))
    back.unlink()
    with pytest.raises(TransferError):
        decrypt_file(sealed, back, PRIVATE)
    assert not back.exists() and not (tmp_path / "out.csv.partial").exists()
