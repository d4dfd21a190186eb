"""The other side of ksec's interop tests: the PyPI package aes-gcm-rsa-oaep, a second
independent implementation of the sealed value format. Run with its own venv's python.

  encrypt CERT LABEL < plaintext -> base64 sealed value
  decrypt KEY LABEL  < base64    -> plaintext bytes
"""
import base64
import sys

from aes_gcm_rsa_oaep import decrypt, encrypt
from cryptography import x509
from cryptography.hazmat.primitives import serialization


def main():
    cmd, path, label = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    data = sys.stdin.buffer.read()
    with open(path, "rb") as f:
        pem = f.read()
    if cmd == "encrypt":
        public = x509.load_pem_x509_certificate(pem).public_key()
        sys.stdout.write(base64.b64encode(encrypt(data, public, label)).decode())
    elif cmd == "decrypt":
        key = serialization.load_pem_private_key(pem, password=None)
        sys.stdout.buffer.write(decrypt(base64.b64decode(data), key, label))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
