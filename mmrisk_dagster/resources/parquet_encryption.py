"""Parquet modular encryption for the tables that hold people's data.

Each file gets its own data key (pyarrow's envelope encryption); data keys are wrapped with
AES-256-GCM under a master key derived from the configured secret (`MMRISK_PARQUET_KEY`, read as
an unresolved `dg.EnvVar`). Footer and columns are encrypted: without the secret a file cannot be
read at all, not even its schema. DuckDB cannot open such files, so encrypted tables have no view
in the catalog.
"""

from __future__ import annotations

import base64
import hashlib
import os

import pyarrow.parquet.encryption as pe
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY_ID = "mmrisk"


class _AesGcmKms(pe.KmsClient):
    """A key-management client whose only key is the master key held in memory."""

    def __init__(self, master_key: bytes):
        pe.KmsClient.__init__(self)
        self._aead = AESGCM(master_key)

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> bytes:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, key_bytes, master_key_identifier.encode()))

    def unwrap_key(self, wrapped_key: bytes, master_key_identifier: str) -> bytes:
        raw = base64.b64decode(wrapped_key)
        return self._aead.decrypt(raw[:12], raw[12:], master_key_identifier.encode())


class ParquetEncryption:
    def __init__(self, secret: str):
        if len(secret) < 16:
            raise ValueError("MMRISK_PARQUET_KEY is shorter than 16 characters; use a long random value")
        master_key = hashlib.sha256(secret.encode()).digest()
        self._factory = pe.CryptoFactory(lambda _config: _AesGcmKms(master_key))
        self._kms = pe.KmsConnectionConfig()

    def write_properties(self):
        config = pe.EncryptionConfiguration(footer_key=MASTER_KEY_ID, uniform_encryption=True, plaintext_footer=False)
        return self._factory.file_encryption_properties(self._kms, config)

    def read_properties(self):
        return self._factory.file_decryption_properties(self._kms)
