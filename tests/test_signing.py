"""JWT signing keys: HS with a configured secret, a persistent development secret, ES256/RS256
key pairs that relying parties verify with the public key, and the ``kid`` header."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.decider.signing import load_signing_key
from shared.settings import Env, Settings
from shared.tokens import verify_token

CLAIMS = {"isOk": True, "jti": "j", "sid": "s", "errors": []}


def settings(tmp_path: Path, **jwt_options: object) -> Settings:
    return Settings(env=Env.DEVELOPMENT, jwt={"key_file": tmp_path / "jwt.key", **jwt_options})


def test_development_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_signing_key(settings(tmp_path))
    second = load_signing_key(settings(tmp_path))
    assert first.key == second.key
    assert len(str(first.key)) >= 32
    assert (tmp_path / "jwt.key").stat().st_mode & 0o777 == 0o600
    token = first.sign(CLAIMS)
    assert verify_token(token, key=second.key, algorithms=["HS256"])["sid"] == "s"


def test_configured_secret_and_kid(tmp_path: Path) -> None:
    key = load_signing_key(settings(tmp_path, key="k" * 40, kid="2026-11"))
    token = key.sign(CLAIMS)
    assert jwt.get_unverified_header(token)["kid"] == "2026-11"
    payload = verify_token(token, key="k" * 40, algorithms=["HS256"])
    assert payload["exp"] - payload["iat"] == 600
    assert not (tmp_path / "jwt.key").exists()


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_key_pairs_verify_with_the_public_key_alone(tmp_path: Path, algorithm: str) -> None:
    private = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else rsa.generate_private_key(
        public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    (tmp_path / "private.pem").write_bytes(pem)
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    key = load_signing_key(settings(tmp_path, algorithm=algorithm, private_key_file=tmp_path / "private.pem"))
    token = key.sign(CLAIMS)
    assert verify_token(token, key=public, algorithms=[algorithm])["jti"] == "j"
    with pytest.raises(jwt.InvalidKeyError):  # algorithm confusion: refused before PyJWT is asked
        verify_token(token, key=public, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify_token(token, key=public, algorithms=["RS256" if algorithm == "ES256" else "ES256"])


def test_expired_and_not_ok_tokens_are_refused(tmp_path: Path) -> None:
    key = load_signing_key(settings(tmp_path, key="k" * 40))
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_token(key.sign(CLAIMS, now=1_000_000), key="k" * 40, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidTokenError, match="isOk"):
        verify_token(key.sign({**CLAIMS, "isOk": False}), key="k" * 40, algorithms=["HS256"])


def test_audience_issuer_and_nonce_are_checked_when_given(tmp_path: Path) -> None:
    key = load_signing_key(settings(tmp_path, key="k" * 40))
    token = key.sign({**CLAIMS, "aud": ["rp-a", "rp-b"], "iss": "vigil", "nonce": "n1"})
    assert verify_token(token, key="k" * 40, algorithms=["HS256"], audience="rp-b", issuer="vigil", nonce="n1")
    with pytest.raises(jwt.InvalidAudienceError):
        verify_token(token, key="k" * 40, algorithms=["HS256"], audience="rp-c")
    with pytest.raises(jwt.InvalidIssuerError):
        verify_token(token, key="k" * 40, algorithms=["HS256"], audience="rp-a", issuer="other")
    with pytest.raises(jwt.InvalidTokenError, match="nonce"):
        verify_token(token, key="k" * 40, algorithms=["HS256"], audience="rp-a", nonce="n2")
    unbound = key.sign(CLAIMS)
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify_token(unbound, key="k" * 40, algorithms=["HS256"], audience="rp-a")
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify_token(unbound, key="k" * 40, algorithms=["HS256"], nonce="n1")


def test_a_public_key_never_verifies_an_hs_token() -> None:
    """Algorithm confusion: an HS256 token "signed" with the public PEM as its secret is refused."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(jwt.InvalidKeyError, match="HS"):
        verify_token("a.b.c", key=public, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidKeyError, match="ES256"):
        verify_token(jwt.encode({**CLAIMS, "iat": 1}, private, algorithm="ES256"), key=b"not a key",
                     algorithms=["ES256"])
