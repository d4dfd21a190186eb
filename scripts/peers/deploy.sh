# Peers of the deployment tests: render Kustomize bases offline and validate them
# against the Kubernetes API schemas (no live cluster is available to the tests).
peers_deploy() {
  command -v kubectl >/dev/null || need_apt kubernetes-client
  need_pip venv kubernetes-validate
}
