"""An etcd writer that is not ksec's: stores Secrets in a real etcd exactly as
kube-apiserver would, in every at-rest format, so that `ksec etcd audit|decrypt` can be
checked against values it did not write.

- The `k8s\\0` + runtime.Unknown + v1.Secret protobuf is encoded by hand here.
- AES-CBC, AES-GCM and HKDF come from `cryptography`, secretbox from PyNaCl.
- KMS data keys are wrapped by the plugin (`ksec kms serve`) through grpcio stubs
  generated from the official KMS protos (v2 Encrypt, v1beta1 Encrypt).
- Values go into etcd through etcd's own JSON gateway (/v3/kv/put, /v3/kv/txn).

Usage: etcd_writer.py ENDPOINT STUBS_DIR SOCKET  (stdin: JSON with the local keys and the
mode; stdout: JSON describing everything written, for the test to compare with).
"""
import base64
import json
import os
import struct
import sys
import urllib.request

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
import nacl.secret

ENDPOINT, STUBS, SOCKET = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.load(sys.stdin)
KEYS = {k: base64.b64decode(v) for k, v in cfg.get("keys", {}).items()}
b64 = lambda b: base64.b64encode(b).decode()

# --- etcd, through its JSON gateway -------------------------------------------------

def call(path, body):
    req = urllib.request.Request(ENDPOINT + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"{}")

def put(key, value):
    r = call("/v3/kv/put", {"key": b64(key.encode()), "value": b64(value)})
    return int(r["header"]["revision"])

def put_many(pairs):
    ops = [{"request_put": {"key": b64(k.encode()), "value": b64(v)}} for k, v in pairs]
    call("/v3/kv/txn", {"success": ops})

def delete(key):
    call("/v3/kv/deleterange", {"key": b64(key.encode())})

# --- protobuf, by hand ----------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def field(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data

def entry(k, v):
    return field(1, k) + field(2, v)

def secret(name, ns, data, typ="Opaque", labels=None, annotations=None):
    meta = field(1, name) + field(3, ns)
    meta += b"".join(field(11, entry(k, v)) for k, v in sorted((labels or {}).items()))
    meta += b"".join(field(12, entry(k, v)) for k, v in sorted((annotations or {}).items()))
    raw = field(1, meta) + b"".join(field(2, entry(k, v)) for k, v in sorted(data.items())) + field(3, typ)
    return b"k8s\x00" + field(1, field(1, "v1") + field(2, "Secret")) + field(2, raw)

def config_map(name, ns, data):
    raw = field(1, field(1, name) + field(3, ns)) + b"".join(field(2, entry(k, v)) for k, v in sorted(data.items()))
    return b"k8s\x00" + field(1, field(1, "v1") + field(2, "ConfigMap")) + field(2, raw)

# --- the providers --------------------------------------------------------------------

def aescbc(name, key, pt):
    iv = os.urandom(16)
    p = padding.PKCS7(128).padder()
    padded = p.update(pt) + p.finalize()
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return f"k8s:enc:aescbc:v1:{name}:".encode() + iv + e.update(padded) + e.finalize()

def aesgcm(name, key, pt, etcd_key):
    nonce = os.urandom(12)
    return f"k8s:enc:aesgcm:v1:{name}:".encode() + nonce + AESGCM(key).encrypt(nonce, pt, etcd_key.encode())

def secretbox(name, key, pt):
    return f"k8s:enc:secretbox:v1:{name}:".encode() + bytes(nacl.secret.SecretBox(key).encrypt(pt, os.urandom(24)))

sys.path.insert(0, STUBS)
import grpc  # noqa: E402
from v2 import api_pb2 as v2, api_pb2_grpc as v2g  # noqa: E402
from v1beta1 import api_pb2 as v1, api_pb2_grpc as v1g  # noqa: E402
channel = grpc.insecure_channel("unix://" + SOCKET, options=[("grpc.default_authority", "localhost")])

def wrap_v1(dek):
    return v1g.KeyManagementServiceStub(channel).Encrypt(v1.EncryptRequest(version="v1beta1", plain=dek), timeout=10).cipher

def wrap_v2(dek):
    r = v2g.KeyManagementServiceStub(channel).Encrypt(v2.EncryptRequest(plaintext=dek, uid="etcd-writer"), timeout=10)
    return r.ciphertext, r.key_id, dict(r.annotations)

def kms_v1(name, pt, etcd_key, cbc=False):
    dek = os.urandom(32)
    wrapped = wrap_v1(dek)
    if cbc:  # written before Kubernetes 1.25
        iv = os.urandom(16)
        p = padding.PKCS7(128).padder()
        padded = p.update(pt) + p.finalize()
        e = Cipher(algorithms.AES(dek), modes.CBC(iv)).encryptor()
        data = iv + e.update(padded) + e.finalize()
    else:
        nonce = os.urandom(12)
        data = nonce + AESGCM(dek).encrypt(nonce, pt, etcd_key.encode())
    return f"k8s:enc:kms:v1:{name}:".encode() + struct.pack(">H", len(wrapped)) + wrapped + data

class V2:
    """One KMS v2 data key (type 0) or seed (type 1), reused across writes as the apiserver does."""
    def __init__(self, name, seed):
        self.name, self.seed = name, seed
        self.source = os.urandom(32)
        self.wrapped, self.key_id, self.annotations = wrap_v2(self.source)

    def encrypt(self, pt, etcd_key):
        nonce = os.urandom(12)
        if self.seed:
            info = os.urandom(32)
            key = HKDFExpand(hashes.SHA256(), 32, info).derive(self.source)
            data = info + nonce + AESGCM(key).encrypt(nonce, pt, etcd_key.encode())
        else:
            data = nonce + AESGCM(self.source).encrypt(nonce, pt, etcd_key.encode())
        obj = field(1, data) + field(2, self.key_id) + field(3, self.wrapped)
        obj += b"".join(field(4, entry(k, v)) for k, v in sorted(self.annotations.items()))
        if self.seed:
            obj += varint(5 << 3) + varint(1)
        return f"k8s:enc:kms:v2:{self.name}:".encode() + obj

# --- what to write ----------------------------------------------------------------------

written, bad, history = [], [], {}

def store(ns, name, storage, value_of, data=None, typ="Opaque", labels=None):
    key = f"/registry/secrets/{ns}/{name}"
    data = data or {"password": os.urandom(12).hex().encode(), "user": name.encode()}
    pt = secret(name, ns, data, typ, labels, {"team": "at-rest"})
    rev = put(key, value_of(pt, key))
    written.append({"key": key, "name": name, "namespace": ns, "type": typ, "storage": storage,
                    "revision": rev, "labels": labels or {},
                    "data": {k: b64(v) for k, v in data.items()}})
    return key, pt

if cfg["mode"] == "formats":
    k = KEYS
    v2key, v2seed = V2("ksec", False), V2("ksec", True)
    store("plain", "identity", {"provider": "identity"}, lambda pt, key: pt,
          data={"token": b"line1\nline2 \"quoted\"", "empty": b""}, typ="kubernetes.io/basic-auth",
          labels={"app": "db", "tier": "back end"})
    store("cbc", "aescbc-16", {"provider": "aescbc", "key": "cbc1"}, lambda pt, key: aescbc("cbc1", k["cbc1"], pt))
    store("cbc", "aescbc-32", {"provider": "aescbc", "key": "cbc2"}, lambda pt, key: aescbc("cbc2", k["cbc2"], pt))
    store("gcm", "aesgcm", {"provider": "aesgcm", "key": "gcm1"}, lambda pt, key: aesgcm("gcm1", k["gcm1"], pt, key))
    store("gcm", "aesgcm-24", {"provider": "aesgcm", "key": "gcm2"}, lambda pt, key: aesgcm("gcm2", k["gcm2"], pt, key))
    store("sb", "secretbox", {"provider": "secretbox", "key": "sb1"}, lambda pt, key: secretbox("sb1", k["sb1"], pt))
    store("kms", "v1-gcm", {"provider": "kms-v1", "name": "kmsv1"}, lambda pt, key: kms_v1("kmsv1", pt, key))
    store("kms", "v1-cbc", {"provider": "kms-v1", "name": "kmsv1"}, lambda pt, key: kms_v1("kmsv1", pt, key, cbc=True))
    for i in range(2):
        store("kms", f"v2-dek-{i}", {"provider": "kms-v2", "name": "ksec", "keyID": v2key.key_id, "dekSource": "aes-gcm-key"},
              lambda pt, key: v2key.encrypt(pt, key))
        store("kms", f"v2-seed-{i}", {"provider": "kms-v2", "name": "ksec", "keyID": v2seed.key_id, "dekSource": "hkdf-seed"},
              lambda pt, key: v2seed.encrypt(pt, key))
    # A ConfigMap in plaintext, for --resource configmaps.
    put("/registry/configmaps/default/settings", config_map("settings", "default", {"mode": "fast"}))
    # Bad values: each must be reported with its etcd key while the rest carries on.
    good = aesgcm("gcm1", k["gcm1"], secret("x", "bad", {"a": b"b"}), "/registry/secrets/elsewhere/x")
    for name, value, audit_error, decrypt_error in [
        ("truncated", good[:30], "truncated", "truncated"),
        ("unknown-prefix", b"k8s:enc:rot13:v1:k:abcdefgh", "unknown encryption prefix", "unknown encryption prefix"),
        ("missing-key", aescbc("gone", os.urandom(32), secret("m", "bad", {"a": b"b"})), None, "does not have"),
        ("moved", good, None, "does not open it"),
    ]:
        key = f"/registry/secrets/bad/{name}"
        put(key, value)
        bad.append({"key": key, "audit_error": audit_error, "decrypt_error": decrypt_error})
    # History: plaintext later encrypted, and plaintext later deleted.
    key, pt = f"/registry/secrets/hist/rewritten", secret("rewritten", "hist", {"v": b"old"})
    history["plaintext_rev"] = put(key, pt)
    store("hist", "rewritten", {"provider": "secretbox", "key": "sb1"}, lambda pt, key: secretbox("sb1", k["sb1"], pt),
          data={"v": b"new"})
    key = "/registry/secrets/hist/deleted"
    history["deleted_rev"] = put(key, secret("deleted", "hist", {"v": b"gone"}))
    delete(key)
elif cfg["mode"] == "bench":
    # Many Secrets as a KMS v2 cluster stores them: one seed, a fresh key per write.
    n, start, batch = cfg["count"], cfg.get("start", 0), cfg.get("batch", 128)
    seed = V2("ksec", True)
    pairs = []
    for i in range(start, start + n):
        ns, name = f"ns{i % 100}", f"s{i:06d}"
        key = f"/registry/secrets/{ns}/{name}"
        pt = secret(name, ns, {"password": os.urandom(16).hex().encode(), "user": b"app"})
        pairs.append((key, pt if i % 100 == 99 else seed.encrypt(pt, key)))
        if len(pairs) >= batch:
            put_many(pairs)
            pairs = []
    if pairs:
        put_many(pairs)
    written = n

json.dump({"written": written, "bad": bad, "history": history}, sys.stdout)
