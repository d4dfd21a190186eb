# Environment shared by scripts/test, scripts/bench and scripts/demo. Sourced.
# The build cache lives outside the clone so that CI runs on fresh clones reuse it.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-"$HOME/.cache/ksec/target"}
export KSEC_CACHE=${KSEC_CACHE:-"$KSEC_ROOT/.cache"}
export KSEC_FIXTURES=${KSEC_FIXTURES:-"$KSEC_ROOT/../shared/testdata"}
export KSEC_PYTHON="$KSEC_CACHE/venv/bin/python"
export KSEC_PYTHON_AESGCM="$KSEC_CACHE/venv-aesgcm/bin/python"
export KSEC_NODE_MODULES="$KSEC_CACHE/npm/node_modules"
# Real Helm binaries installed by scripts/peers/helm.sh.
export KSEC_HELM4="$KSEC_CACHE/helm/v4/helm"
export KSEC_HELM3="$KSEC_CACHE/helm/v3/helm"
export PATH="$KSEC_CACHE/venv/bin:$KSEC_CACHE/npm/node_modules/.bin:$PATH"
export SOPS_DISABLE_VERSION_CHECK=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
