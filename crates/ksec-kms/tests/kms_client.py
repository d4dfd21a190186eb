"""A KMS gRPC client that is not ksec's: Python grpcio stubs generated from the
official Kubernetes protos. Reads one JSON command per line on stdin, answers one
JSON line on stdout. Usage: kms_client.py STUBS_DIR SOCKET"""
import base64
import json
import sys

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from v2 import api_pb2 as v2, api_pb2_grpc as v2g  # noqa: E402
from v1beta1 import api_pb2 as v1, api_pb2_grpc as v1g  # noqa: E402

# grpc-go (kube-apiserver's client) sends ":authority: localhost" on unix sockets;
# grpc C-core would send the socket path, which HTTP/2 servers (hyper) reject.
channel = grpc.insecure_channel("unix://" + sys.argv[2], options=[("grpc.default_authority", "localhost")])
s2 = v2g.KeyManagementServiceStub(channel)
s1 = v1g.KeyManagementServiceStub(channel)
b64 = lambda b: base64.b64encode(b).decode()
unb64 = base64.b64decode

for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    try:
        if op == "status":
            r = s2.Status(v2.StatusRequest(), timeout=10)
            out = {"version": r.version, "healthz": r.healthz, "key_id": r.key_id}
        elif op == "encrypt":
            # "gzip": compress the request (the plugin takes identity only).
            comp = grpc.Compression.Gzip if cmd.get("gzip") else None
            r = s2.Encrypt(v2.EncryptRequest(plaintext=unb64(cmd["plaintext"]), uid=cmd.get("uid", "u1")),
                           timeout=cmd.get("timeout", 10), compression=comp)
            out = {"ciphertext": b64(r.ciphertext), "key_id": r.key_id,
                   "annotations": {k: b64(v) for k, v in r.annotations.items()}}
        elif op == "decrypt":
            r = s2.Decrypt(v2.DecryptRequest(
                ciphertext=unb64(cmd["ciphertext"]), uid="u2", key_id=cmd["key_id"],
                annotations={k: unb64(v) for k, v in cmd.get("annotations", {}).items()}), timeout=10)
            out = {"plaintext": b64(r.plaintext)}
        elif op == "v1version":
            r = s1.Version(v1.VersionRequest(version=cmd.get("version", "v1beta1")), timeout=10)
            out = {"version": r.version, "runtime_name": r.runtime_name}
        elif op == "v1encrypt":
            r = s1.Encrypt(v1.EncryptRequest(version="v1beta1", plain=unb64(cmd["plain"])), timeout=10)
            out = {"cipher": b64(r.cipher)}
        elif op == "v1decrypt":
            r = s1.Decrypt(v1.DecryptRequest(version="v1beta1", cipher=unb64(cmd["cipher"])), timeout=10)
            out = {"plain": b64(r.plain)}
        elif op == "method":
            # Any method path, with an empty request message.
            call = channel.unary_unary(cmd["path"], request_serializer=lambda m: m,
                                       response_deserializer=lambda b: b)
            r = call(b"", timeout=10)
            out = {"response": b64(r)}
        else:
            raise ValueError(op)
        out["ok"] = True
    except grpc.RpcError as e:
        out = {"ok": False, "code": e.code().name, "details": e.details()}
    print(json.dumps(out), flush=True)
