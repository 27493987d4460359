"""Key files: made private, refused when readable by others or of the wrong kind; only fingerprints shown."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from pseudonymise.keys import (
    SecretKeyError,
    load_key,
    load_private_key,
    load_public_key,
    new_key,
    new_recipient_pair,
    read_key_file,
    write_key_file,
)


def test_a_new_key_file_is_readable_by_its_owner_only_and_reads_back(tmp_path):
    key = new_key("council")
    path = write_key_file(key, tmp_path / "council.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path, "council") == key
    assert len(key.material) == 32


def test_a_key_is_never_overwritten(tmp_path):
    path = write_key_file(new_key("council"), tmp_path / "council.key")
    with pytest.raises(SecretKeyError, match="already exists"):
        write_key_file(new_key("council"), path)


def test_a_key_readable_by_others_is_refused(tmp_path):
    path = write_key_file(new_key("council"), tmp_path / "council.key")
    os.chmod(path, 0o644)
    with pytest.raises(SecretKeyError, match="readable by others; run chmod 600"):
        read_key_file(path, "council")


def test_the_wrong_kind_of_key_is_refused(tmp_path):
    path = write_key_file(new_key("evaluation"), tmp_path / "evaluation.key")
    with pytest.raises(SecretKeyError, match="holds the evaluation key, not the council key"):
        read_key_file(path, "council")


def test_a_short_key_from_the_environment_is_refused():
    with pytest.raises(SecretKeyError, match="the key has 128 bits; at least 256"):
        load_key("council", None, base64.b64encode(b"x" * 16).decode())
    assert load_key("council", None, base64.b64encode(b"y" * 32).decode()).material == b"y" * 32


def test_a_missing_key_says_how_to_make_one():
    with pytest.raises(SecretKeyError, match="sfmatch keys new --kind evaluation"):
        load_key("evaluation", None, None)


def test_printing_a_key_shows_only_its_fingerprint():
    key = new_key("council")
    assert key.material.hex() not in repr(key) and key.fingerprint in repr(key)
    assert new_key("council").fingerprint != key.fingerprint


def test_a_recipient_pair_round_trips(tmp_path):
    fingerprint = new_recipient_pair(tmp_path / "private.pem", tmp_path / "public.pem")
    assert stat.S_IMODE((tmp_path / "private.pem").stat().st_mode) == 0o600
    private, public = load_private_key(tmp_path / "private.pem"), load_public_key(tmp_path / "public.pem")
    assert private.public_key().public_bytes_raw() == public.public_bytes_raw()
    assert len(fingerprint) == 16
    with pytest.raises(SecretKeyError, match="not a PEM public key"):
        load_public_key(tmp_path / "private.pem")


def test_a_recipient_public_key_the_council_holds_is_never_replaced(tmp_path):
    public = tmp_path / "recipient_public.pem"
    public.write_bytes(b"the evaluation's key, as received")
    with pytest.raises(SecretKeyError, match="already exists"):
        new_recipient_pair(tmp_path / "private.pem", public)
    assert public.read_bytes() == b"the evaluation's key, as received"
    assert not (tmp_path / "private.pem").exists()
