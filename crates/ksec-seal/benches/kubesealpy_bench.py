"""kubesealpy's side of the sealing benchmark: prints microseconds per value for
sealing and unsealing a Secret with N values. Args: CERT KEY N."""
import sys
import time

from kubesealpy import Sealer, Unsealer

cert, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = {f"key{i}": f"value-{i}-{'x' * 32}".encode() for i in range(n)}
sealer = Sealer.from_certificate_file(cert)
unsealer = Unsealer.from_private_key_file(key)
seal_us = unseal_us = float("inf")
for _ in range(3):  # best of three, as the Rust side does
    t = time.perf_counter()
    sealed = sealer.seal(name="bench", namespace="default", data=data)
    seal_us = min(seal_us, (time.perf_counter() - t) * 1e6 / n)
    t = time.perf_counter()
    secret = unsealer.unseal(sealed)
    unseal_us = min(unseal_us, (time.perf_counter() - t) * 1e6 / n)
    assert len(secret.data) == n
print(f"{seal_us:.1f} {unseal_us:.1f}")
