# Peers of the risk-scanner tests (ksec-scan, `ksec scan`): checkov and detect-secrets
# scan the same corpus, sarif-tools reads ksec's SARIF back, kubectl renders Kustomize
# directories, Helm renders charts (scripts/peers/helm.sh), git walks history.
peers_scan() {
  command -v kubectl >/dev/null || need_apt kubernetes-client
  command -v git >/dev/null || need_apt git
  need_pip venv checkov detect-secrets sarif-tools
  declare -F peers_helm >/dev/null || source "$KSEC_ROOT/scripts/peers/helm.sh"
  peers_helm
}
