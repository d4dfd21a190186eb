"""The other side of ksec's interop tests: kubesealpy (an independent Python
implementation of Sealed Secrets). Run with the project venv's python.

  seal CERT SCOPE          < Secret YAML      -> SealedSecret YAML (kubesealpy's Sealer)
  unseal KEY               < SealedSecret YAML -> JSON {"name", "namespace", "data": {k: base64}}
  spki CERT                                   -> the certificate's PUBLIC KEY PEM
"""
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def main():
    cmd = sys.argv[1]
    if cmd == "seal":
        from kubesealpy import Sealer
        from kubesealpy.models import Secret
        from kubesealpy.scopes import SealingScope

        scope = {
            "strict": SealingScope.STRICT,
            "namespace-wide": SealingScope.NAMESPACE_WIDE,
            "cluster-wide": SealingScope.CLUSTER_WIDE,
        }[sys.argv[3]]
        sealer = Sealer.from_certificate_file(sys.argv[2])
        secret = Secret.from_yaml(sys.stdin.read())
        sys.stdout.write(sealer.seal_secret(secret, scope=scope).to_yaml())
    elif cmd == "unseal":
        from kubesealpy import Unsealer
        from kubesealpy.models import SealedSecret

        unsealer = Unsealer.from_private_key_file(sys.argv[2])
        secret = unsealer.unseal(SealedSecret.from_yaml(sys.stdin.read()))
        json.dump(
            {
                "name": secret.metadata.name,
                "namespace": secret.metadata.namespace,
                "data": secret.data,
            },
            sys.stdout,
        )
    elif cmd == "spki":
        with open(sys.argv[2], "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        sys.stdout.write(
            cert.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
