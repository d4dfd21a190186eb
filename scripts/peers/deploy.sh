# Peers of the deployment tests: render Kustomize bases offline (kubectl) and the Helm
# charts with the real Helm 4 and Helm 3 (scripts/peers/helm.sh), and validate what they
# render against the Kubernetes API schemas (no live cluster is available to the tests).
# The key backup tests use the real age and age-keygen (and ssh-keygen for SSH
# recipients).
peers_deploy() {
  command -v kubectl >/dev/null || need_apt kubernetes-client
  need_pip venv kubernetes-validate
  need_apt age openssh-client
  declare -F peers_helm >/dev/null || source "$KSEC_ROOT/scripts/peers/helm.sh"
  peers_helm
}
