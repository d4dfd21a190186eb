# Peers of the controller tests (ksec-controller): kubesealpy seals the SealedSecrets
# the controller must open; kubectl renders the Kustomize bases offline and
# kubernetes-validate checks them against the Kubernetes API schemas.
peers_controller() {
  need_pip venv kubesealpy cryptography kubernetes-validate
  need_apt kubectl
}
