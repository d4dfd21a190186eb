# Peers of the sealing tests (ksec-seal, `ksec seal`): three independent
# implementations of the Sealed Secrets format.
peers_seal() {
  # ssh-keygen checks our key fingerprints against OpenSSH's.
  need_apt openssh-client
  need_pip venv kubesealpy cryptography
  # aes-gcm-rsa-oaep conflicts with kubesealpy's pins: it gets its own venv.
  need_pip venv-aesgcm aes-gcm-rsa-oaep
  need_npm @linode/kubeseal-encrypt
}
