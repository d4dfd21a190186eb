# Helpers for scripts/test: install the peers the tests need on a fresh Debian
# machine. Sourced, not run. Every function is idempotent and quiet when the
# peer is already there.

KSEC_CACHE=${KSEC_CACHE:-"$KSEC_ROOT/.cache"}
_apt_updated=""

say() { printf '==> %s\n' "$*" >&2; }

# need_apt PKG... : install the Debian packages that are not installed yet.
need_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "$_apt_updated" ]; then
    say "apt-get update"
    $sudo apt-get update -qq >&2
    _apt_updated=1
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# need_pip VENV PKG... : install Python packages into the project venv named VENV
# (under .cache/), creating it first.
need_pip() {
  local venv="$KSEC_CACHE/$1"; shift
  if [ ! -x "$venv/bin/python" ]; then
    say "python venv $venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --upgrade pip >&2
  fi
  local missing=()
  for spec in "$@"; do
    local name=${spec%%[=<>\[]*}
    "$venv/bin/pip" show -q "$name" >/dev/null 2>&1 || missing+=("$spec")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "pip install (${venv##*/}) ${missing[*]}"
  "$venv/bin/pip" install -q "${missing[@]}" >&2
}

# need_npm PKG... : install npm packages under .cache/npm.
need_npm() {
  local prefix="$KSEC_CACHE/npm" missing=()
  for p in "$@"; do
    [ -d "$prefix/node_modules/$p" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v npm >/dev/null || need_apt nodejs npm
  say "npm install ${missing[*]}"
  npm install --silent --no-audit --no-fund --prefix "$prefix" "${missing[@]}" >&2
}
