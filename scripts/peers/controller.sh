# Peers of the controller tests (ksec-controller): kubesealpy seals the SealedSecrets
# the controller must open; kubectl renders the Kustomize base offline and
# kubernetes-validate checks it against the Kubernetes API schemas (as peers_deploy).
peers_controller() {
  need_pip venv kubesealpy cryptography kubernetes-validate
  command -v kubectl >/dev/null || need_apt kubernetes-client
}
