# Peers of the etcd at-rest tests (ksec-etcd, `ksec etcd audit|decrypt`): a real etcd
# 3.4 server and etcdctl (the tests start etcd on 127.0.0.1, fill it, and take
# snapshots with `etcdctl snapshot save`), openssl for the TLS certificates, and the
# independent Python writer of the stored values: `cryptography` for AES-CBC, AES-GCM
# and HKDF, PyNaCl for secretbox, and grpcio (+ grpcio-tools for the stubs) to have the
# KMS data keys wrapped by `ksec kms serve` as kube-apiserver would. python3-venv:
# Debian's python3 cannot make the venv without it.
peers_etcd() {
  need_apt etcd-server etcd-client openssl python3-venv
  need_pip venv cryptography pynacl grpcio grpcio-tools
}
