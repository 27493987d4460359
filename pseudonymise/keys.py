"""Secret keys for pseudonyms, and the recipient's key pair for transfer.

Two HMAC keys of 256 bits: the council's own (family and person pseudonyms)
and the evaluation key it shares with the recipient (match keys); a third, the
opt-out key, seals the restriction register (`pseudonymise.optouts`). A key file is
one short text file, written readable by its owner only; a key can also come
from an environment variable. Anything recorded about a key (manifest, logs)
is its fingerprint, never the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from data.errors import SfmatchError
from data.private_files import write_private

KEY_BYTES = 32
KeyKind = Literal["council", "evaluation", "opt-out"]
KEY_KINDS = ("council", "evaluation", "opt-out")
HEADER = "sfmatch-key v1"


class SecretKeyError(SfmatchError):
    """A key that is missing, unreadable, too short or too widely readable."""


@dataclass(frozen=True)
class SecretKey:
    kind: str
    material: bytes

    @property
    def fingerprint(self) -> str:
        """A short public name for the key: a hash under its own label, useless for recovering the key."""
        return hashlib.sha256(b"sfmatch key fingerprint\x00" + self.material).hexdigest()[:16]

    def __repr__(self) -> str:  # never print key material, even by accident
        return f"SecretKey(kind={self.kind!r}, fingerprint={self.fingerprint!r})"


def new_key(kind: KeyKind) -> SecretKey:
    return SecretKey(kind, secrets.token_bytes(KEY_BYTES))


def _write_private(path: Path, content: bytes) -> Path:
    """Create the file readable and writable by its owner only, from the first byte."""
    if path.exists():
        raise SecretKeyError(f"{path} already exists; keys are never overwritten (move the old one first)")
    return write_private(path, content)


def write_key_file(key: SecretKey, path: Path) -> Path:
    text = f"{HEADER} {key.kind}\n{base64.b64encode(key.material).decode()}\n"
    return _write_private(path, text.encode())


def _decode(text: str, where: str, kind: str) -> SecretKey:
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"{where}: not a base64 key") from None
    if len(material) < KEY_BYTES:
        raise SecretKeyError(f"{where}: the key has {len(material) * 8} bits; at least {KEY_BYTES * 8} are needed")
    return SecretKey(kind, material)


def read_key_file(path: Path, kind: KeyKind) -> SecretKey:
    try:
        mode = path.stat().st_mode
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError as exc:
        raise SecretKeyError(f"{kind} key file {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SecretKeyError(f"{kind} key file {path}: not a key file") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(f"{kind} key file {path}: readable by others; run chmod 600 on it")
    if len(lines) != 2 or not lines[0].startswith(HEADER):
        raise SecretKeyError(f"{kind} key file {path}: not an sfmatch key file")
    stated = lines[0][len(HEADER):].strip()
    if stated != kind:
        raise SecretKeyError(f"{kind} key file {path}: holds the {stated} key, not the {kind} key")
    return _decode(lines[1], f"{kind} key file {path}", kind)


def environment_name(kind: KeyKind) -> str:
    return f"SFMATCH_{kind.upper().replace('-', '_')}_KEY"


def load_key(kind: KeyKind, file: Path | None, secret: str | None) -> SecretKey:
    """A key from its file, or from the environment (already read by the settings)."""
    if file is not None:
        return read_key_file(file, kind)
    if secret:
        return _decode(secret, f"the {kind} key from {environment_name(kind)}", kind)
    setting = f"{kind.replace('-', '_')}_key_file"
    raise SecretKeyError(
        f"no {kind} key: set {setting} in the settings (or {environment_name(kind)}); "
        f"'sfmatch keys new --kind {kind}' makes one"
    )


# --- the recipient's key pair (X25519) -------------------------------------------------------

def new_recipient_pair(private_path: Path, public_path: Path) -> str:
    """Write a key pair for the recipient; the private half stays with them. Returns its fingerprint.

    Neither half replaces an existing file: a council's copy of the recipient's
    public key, overwritten, would seal the next submission for the wrong key.
    """
    for path in (private_path, public_path):
        if path.exists():
            raise SecretKeyError(f"{path} already exists; keys are never overwritten (move the old one first)")
    private = X25519PrivateKey.generate()
    _write_private(private_path, private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public_path.parent.mkdir(parents=True, exist_ok=True)
    with public_path.open("xb") as handle:
        handle.write(private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public_fingerprint(private.public_key())


def public_fingerprint(public: X25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(b"sfmatch recipient\x00" + raw).hexdigest()[:16]


def load_public_key(path: Path) -> X25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise SecretKeyError(f"recipient public key {path}: cannot be read ({exc.strerror})") from None
    except ValueError:
        raise SecretKeyError(f"recipient public key {path}: not a PEM public key") from None
    if not isinstance(key, X25519PublicKey):
        raise SecretKeyError(f"recipient public key {path}: not an X25519 key")
    return key


def load_private_key(path: Path) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SecretKeyError(f"private key {path}: cannot be read ({exc.strerror})") from None
    except (ValueError, TypeError):
        raise SecretKeyError(f"private key {path}: not an unencrypted PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise SecretKeyError(f"private key {path}: not an X25519 key")
    return key


@dataclass(frozen=True)
class SubmissionKeys:
    """The keys a submission needs: the council's and the evaluation's HMAC keys, and the public keys of the two
    recipients, the cohort's (the evaluation) and the aggregate return's."""

    council: SecretKey
    evaluation: SecretKey
    recipient: X25519PublicKey
    aggregates_recipient: X25519PublicKey

    @property
    def fingerprints(self) -> dict[str, str]:
        return {"council": self.council.fingerprint, "evaluation": self.evaluation.fingerprint,
                "recipient": public_fingerprint(self.recipient),
                "aggregates_recipient": public_fingerprint(self.aggregates_recipient)}


def load_submission_keys(council_file: Path | None, council_secret: str | None, evaluation_file: Path | None,
                         evaluation_secret: str | None, recipient_public_key: Path | None,
                         aggregates_recipient_public_key: Path | None) -> SubmissionKeys:
    """Every key a submission needs, or a clear error naming the one that is missing or wrong."""
    council = load_key("council", council_file, council_secret)
    evaluation = load_key("evaluation", evaluation_file, evaluation_secret)
    if council.material == evaluation.material:
        raise SecretKeyError("the council key and the evaluation key must differ: the evaluation holds its key")
    if recipient_public_key is None:
        raise SecretKeyError("no recipient_public_key: the cohort file is encrypted for the evaluation before it "
                             "leaves ('sfmatch keys recipient' makes a pair for testing)")
    if aggregates_recipient_public_key is None:
        raise SecretKeyError("no aggregates_recipient_public_key: the aggregate return is a package of its own, "
                             "encrypted for its own recipient ('sfmatch keys recipient' makes a pair for testing)")
    recipient, aggregates = load_public_key(recipient_public_key), load_public_key(aggregates_recipient_public_key)
    if public_fingerprint(recipient) == public_fingerprint(aggregates):
        raise SecretKeyError("recipient_public_key and aggregates_recipient_public_key are the same key: the row-level "
                             "cohort and the aggregate return go to their own recipients, so that the rows cannot "
                             "undo the aggregates' suppression")
    return SubmissionKeys(council, evaluation, recipient, aggregates)
