#!/usr/bin/env bash
# Run a real Synapse homeserver on loopback for Vestibule's tests.
#
#   scripts/synapse.sh install
#       Create (once) a venv with matrix-synapse==$SYNAPSE_VERSION outside the checkout and print its path.
#       Cache root: ${VESTIBULE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestibule-dev}
#   scripts/synapse.sh start DIR [--port N]          (or SYNAPSE_PORT=N scripts/synapse.sh start DIR)
#       Write DIR/homeserver.yaml (+ log config, signing key), start Synapse in the background
#       (pid in DIR/pid, log in DIR/homeserver.log), wait (max $SYNAPSE_START_TIMEOUT, 60 s) until it
#       listens and /_matrix/client/versions answers, and print exactly one line on stdout: the base
#       URL, e.g. http://127.0.0.1:38123. On failure: log tail on stderr, exit status 1.
#       With --port/SYNAPSE_PORT and an existing DIR/homeserver.yaml for that port, the existing
#       config, database and signing key are reused (restart tests). A DIR that already holds a
#       database always keeps its port (the database is tied to server_name 127.0.0.1:PORT).
#   scripts/synapse.sh stop DIR
#       TERM the server (KILL after 10 s). Idempotent.
#   scripts/synapse.sh register BASEURL LOCALPART PASSWORD
#       Register a user with m.login.dummy; print the JSON response (user_id, access_token, device_id).
#   scripts/synapse.sh url DIR
#       Print the base URL of the server configured in DIR.
#
# Sign-in beyond passwords, with the OpenID provider of scripts/oidc.sh (start it first, with
# OIDC_SYNAPSE_URL naming this server's port, and pass --port/SYNAPSE_PORT here):
#   SYNAPSE_AUTH=oauth OIDC_ISSUER=URL scripts/synapse.sh install|start ...
#       OAuth 2.0 only (MSC3861 delegation, tests/support/synapse/homeserver-oauth.yaml.in) on
#       matrix-synapse[oidc] $SYNAPSE_OAUTH_VERSION, its own venv; no registration, no /login.
#       Also read: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET (introspection client), OIDC_ADMIN_TOKEN.
#   SYNAPSE_AUTH=sso OIDC_ISSUER=URL scripts/synapse.sh install|start ...
#       The usual config plus an oidc_providers entry (tests/support/synapse/homeserver-sso.yaml.in)
#       on matrix-synapse[oidc] $SYNAPSE_VERSION. Also read: OIDC_SSO_CLIENT_ID, OIDC_SSO_CLIENT_SECRET,
#       OIDC_IDP_ID (vestibule: /login lists "oidc-vestibule"), OIDC_IDP_NAME.
#   The defaults of the client IDs, secrets and admin token are those of scripts/oidc.sh. With an
#   auth mode, start always rewrites DIR/homeserver.yaml (the issuer may have moved). A DIR serves one
#   mode: a database made by $SYNAPSE_VERSION cannot be opened by $SYNAPSE_OAUTH_VERSION.
#   A provider over HTTPS (scripts/oidc.sh start --tls, issuer https://127.0.0.1:P): pass its CA as
#   OIDC_CA_FILE=PROVIDER_DIR/ca.pem (`scripts/oidc.sh ca PROVIDER_DIR` prints it). Synapse is then
#   started with SSL_CERT_FILE=OIDC_CA_FILE, which both its HTTP clients read when Synapse starts:
#   Twisted's (platformTrust(): OpenSSL's default verify paths; metadata, SSO token and userinfo)
#   and the Rust one of MSC3861 introspection (rustls-native-certs). It *replaces* the default CA
#   bundle file, for the Synapse process only: Synapse trusts that CA and whatever SSL_CERT_DIR
#   names, if set, and no longer the system's bundle (Synapse on loopback calls nobody else). With
#   an https issuer, SSO checks the provider's metadata (no skip_verification). Synapse's own
#   listener stays plain HTTP.
#
# Everything but `install` uses only python3's standard library for HTTP (no curl needed).
set -euo pipefail

SYNAPSE_VERSION=1.163.2
# experimental_features.msc3861 (OAuth 2.0 delegation to any OpenID provider) was removed in 1.157.
SYNAPSE_OAUTH_VERSION=1.156.0
SYNAPSE_AUTH="${SYNAPSE_AUTH:-password}"
case "$SYNAPSE_AUTH" in
  password|sso) ;;
  oauth) SYNAPSE_VERSION="$SYNAPSE_OAUTH_VERSION" ;;
  *) echo "synapse.sh: SYNAPSE_AUTH must be password, oauth or sso, not $SYNAPSE_AUTH" >&2; exit 2 ;;
esac
CACHE_ROOT="${VESTIBULE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestibule-dev}"
VENV="$CACHE_ROOT/synapse-$SYNAPSE_VERSION"
MARKER="$VENV/.vestibule-install-complete"
# Set once the venv also has the `oidc` extra (authlib), needed by SYNAPSE_AUTH=oauth|sso only.
OIDC_EXTRA_MARKER="$VENV/.vestibule-oidc-extra-complete"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE_DIR="$SCRIPT_DIR/../tests/support/synapse"
START_TIMEOUT="${SYNAPSE_START_TIMEOUT:-60}"

die() { echo "synapse.sh: $*" >&2; exit 1; }
log() { echo "synapse.sh: $*" >&2; }
. "$SCRIPT_DIR/lib/servers.sh"

usage() {
  # The comment block at the top of this file.
  sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p' >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------- install

ensure_venv_module() {
  if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    return
  fi
  command -v apt-get >/dev/null 2>&1 || die "python3 has no venv/ensurepip module and apt-get is missing"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  log "python3 venv module missing; installing python3-venv with apt-get"
  "${sudo[@]}" apt-get update -qq >&2
  # Debian names the package after the minor version (python3.11-venv) on some releases.
  local minor
  minor="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq python3-venv >&2 \
    || DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "python$minor-venv" >&2
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || die "python3 venv module still unavailable"
}

venv_ready() {
  [ -f "$MARKER" ] && [ -x "$VENV/bin/python" ] || return 1
  [ "$SYNAPSE_AUTH" = password ] || [ -f "$OIDC_EXTRA_MARKER" ]
}

cmd_install() {
  if venv_ready; then
    echo "$VENV"
    return
  fi
  mkdir -p "$CACHE_ROOT"
  # Serialise concurrent installs (several test binaries may call `start` at once).
  exec 9>"$CACHE_ROOT/.synapse-$SYNAPSE_VERSION.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if venv_ready; then
    exec 9>&-
    echo "$VENV"
    return
  fi
  local requirement="matrix-synapse==$SYNAPSE_VERSION"
  [ "$SYNAPSE_AUTH" = password ] || requirement="matrix-synapse[oidc]==$SYNAPSE_VERSION"
  if [ -f "$MARKER" ] && [ -x "$VENV/bin/python" ]; then
    # A complete venv that lacks the extra: add it in place (servers running from it keep running).
    log "adding the oidc extra (authlib) to $VENV"
    "$VENV/bin/python" -m pip install --quiet "$requirement" >&2
  else
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
      || die "matrix-synapse $SYNAPSE_VERSION needs python3 >= 3.10 (found $(python3 --version 2>&1))"
    ensure_venv_module
    log "installing $requirement into $VENV"
    rm -rf "$VENV"   # a half-finished install (no marker) is redone from scratch
    python3 -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install --quiet "$requirement" >&2
    "$VENV/bin/python" -c 'import synapse.app.homeserver' >&2
    date -u +%FT%TZ >"$MARKER"
  fi
  if [ "$SYNAPSE_AUTH" != password ]; then
    "$VENV/bin/python" -c 'import authlib' >&2
    date -u +%FT%TZ >"$OIDC_EXTRA_MARKER"
  fi
  exec 9>&-
  echo "$VENV"
}

# ----------------------------------------------------------------------------------------------- helpers



# http_ok URL -> exit 0 when GET answers 200
http_ok() {
  python3 - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}


configured_port() {
  # The port of the listener in an existing homeserver.yaml (written by this script).
  sed -n 's/^ *- port: \([0-9][0-9]*\) *$/\1/p' "$1/homeserver.yaml" | head -n1
}

write_config() {
  local dir="$1" port="$2"
  local sn="127.0.0.1:$port"
  # server_name: "127.0.0.1:PORT".
  #  * It must be unique per server: user IDs (@alice:127.0.0.1:PORT) and room IDs then differ between
  #    concurrently running test servers, and a restart on the same port keeps the same identity.
  #  * It equals the authority of public_baseurl, so a client that does discovery from the user ID
  #    (GET https?://127.0.0.1:PORT/.well-known/matrix/client) reaches this very server, which answers
  #    with base_url = public_baseurl and the extra rtc_foci content. Synapse serves
  #    /.well-known/matrix/client on the client listener whenever public_baseurl is set.
  #  * "localhost:PORT" would also be a valid server name, but then the user ID's host and the base URL
  #    host differ (and "localhost" may resolve to ::1 first), which only adds confusion.
  case "$dir" in *'"'*|*'\'*) die "DIR must not contain quotes or backslashes: $dir" ;; esac
  local d="${dir//&/\\&}"; d="${d//|/\\|}"   # escape for the sed replacement
  if [ "$SYNAPSE_AUTH" != password ]; then
    write_auth_config "$dir" "$sn" "$port" "$d"
    sed -e "s|@DIR@|$d|g" "$TEMPLATE_DIR/log.config.in" >"$dir/log.config"
    return
  fi
  sed -e "s|@SERVER_NAME@|$sn|g" \
      -e "s|@PORT@|$port|g" \
      -e "s|@DIR@|$d|g" \
      "$TEMPLATE_DIR/homeserver.yaml.in" >"$dir/homeserver.yaml"
  sed -e "s|@DIR@|$d|g" "$TEMPLATE_DIR/log.config.in" >"$dir/log.config"
}

# The config of SYNAPSE_AUTH=oauth|sso: homeserver-oauth.yaml.in, or homeserver.yaml.in followed by
# homeserver-sso.yaml.in; the OIDC_* values (defaults: those of scripts/oidc.sh) substituted.
write_auth_config() {
  local dir="$1" sn="$2" port="$3" d="$4"
  [ -n "${OIDC_ISSUER:-}" ] || die "SYNAPSE_AUTH=$SYNAPSE_AUTH needs OIDC_ISSUER (the URL scripts/oidc.sh start printed)"
  local issuer="${OIDC_ISSUER%/}"
  local -a subst=(
    -e "s|@SERVER_NAME@|$sn|g" -e "s|@PORT@|$port|g" -e "s|@DIR@|$d|g"
  )
  local name value
  for name in OIDC_ISSUER OIDC_CLIENT_ID OIDC_CLIENT_SECRET OIDC_ADMIN_TOKEN \
              OIDC_SSO_CLIENT_ID OIDC_SSO_CLIENT_SECRET OIDC_IDP_ID OIDC_IDP_NAME OIDC_SKIP_VERIFICATION; do
    case "$name" in
      OIDC_ISSUER) value="$issuer" ;;
      # Synapse refuses a plain-HTTP issuer unless told not to check its metadata.
      OIDC_SKIP_VERIFICATION) case "$issuer" in https://*) value=false ;; *) value=true ;; esac ;;
      OIDC_CLIENT_ID) value="${OIDC_CLIENT_ID:-synapse-msc3861}" ;;
      OIDC_CLIENT_SECRET) value="${OIDC_CLIENT_SECRET:-vestibule-test-msc3861-secret}" ;;
      OIDC_ADMIN_TOKEN) value="${OIDC_ADMIN_TOKEN:-vestibule-test-admin-token}" ;;
      OIDC_SSO_CLIENT_ID) value="${OIDC_SSO_CLIENT_ID:-synapse-sso}" ;;
      OIDC_SSO_CLIENT_SECRET) value="${OIDC_SSO_CLIENT_SECRET:-vestibule-test-sso-secret}" ;;
      OIDC_IDP_ID) value="${OIDC_IDP_ID:-vestibule}" ;;
      OIDC_IDP_NAME) value="${OIDC_IDP_NAME:-Vestibule test provider}" ;;
    esac
    case "$value" in *'"'*|*'\'*|*$'\n'*) die "$name must not contain quotes, backslashes or newlines" ;; esac
    value="${value//&/\\&}"; value="${value//|/\\|}"
    subst+=(-e "s|@$name@|$value|g")
  done
  if [ "$SYNAPSE_AUTH" = oauth ]; then
    sed "${subst[@]}" "$TEMPLATE_DIR/homeserver-oauth.yaml.in" >"$dir/homeserver.yaml"
  else
    cat "$TEMPLATE_DIR/homeserver.yaml.in" "$TEMPLATE_DIR/homeserver-sso.yaml.in" \
      | sed "${subst[@]}" >"$dir/homeserver.yaml"
  fi
}

# ------------------------------------------------------------------------------------------------- start

cmd_start() {
  local dir="" port="${SYNAPSE_PORT:-}"
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
    die "a server is already running from $dir (pid $(cat "$dir/pid")); stop it first"
  fi

  cmd_install >/dev/null

  # The CA of an HTTPS provider (see the top of this file), for the Synapse process only.
  local ca_file=""
  if [ -n "${OIDC_CA_FILE:-}" ]; then
    [ -f "$OIDC_CA_FILE" ] && [ -r "$OIDC_CA_FILE" ] || die "OIDC_CA_FILE is not a readable file: $OIDC_CA_FILE"
    grep -q -e '-----BEGIN CERTIFICATE-----' "$OIDC_CA_FILE" \
      || die "OIDC_CA_FILE holds no PEM certificate: $OIDC_CA_FILE"
    ca_file="$(cd "$(dirname "$OIDC_CA_FILE")" && pwd)/$(basename "$OIDC_CA_FILE")"
  fi

  local old_port=""
  [ ! -f "$dir/homeserver.yaml" ] || old_port="$(configured_port "$dir")"
  if [ -z "$port" ] && [ -f "$dir/homeserver.db" ] && [ -n "$old_port" ]; then
    # The database is tied to server_name 127.0.0.1:OLD_PORT; a new port would make Synapse refuse it.
    log "$dir already holds a database for port $old_port; reusing that port"
    port="$old_port"
  fi
  if [ -n "$port" ]; then
    [[ "$port" =~ ^[0-9]+$ ]] || die "bad port: $port"
    if [ -f "$dir/homeserver.db" ] && [ -n "$old_port" ] && [ "$old_port" != "$port" ]; then
      die "$dir holds a database for server_name 127.0.0.1:$old_port; cannot start it on port $port"
    fi
    if [ "$old_port" = "$port" ] && [ "$SYNAPSE_AUTH" = password ]; then
      log "reusing existing config in $dir (port $port)"
    elif [ "$old_port" = "$port" ]; then
      write_config "$dir" "$port"
    else
      [ ! -f "$dir/homeserver.yaml" ] || log "config in $dir is for another port; rewriting it for $port"
      write_config "$dir" "$port"
    fi
  else
    port="$(free_port)"
    write_config "$dir" "$port"
  fi

  if ! port_free "$port"; then
    die "127.0.0.1:$port is already in use (another server?)"
  fi

  local py="$VENV/bin/python"
  if [ ! -f "$dir/signing.key" ]; then
    (cd "$dir" && "$py" -m synapse.app.homeserver -c "$dir/homeserver.yaml" --generate-keys) \
      >>"$dir/homeserver.log" 2>&1 \
      || { tail -n 40 "$dir/homeserver.log" >&2; die "generating the signing key failed"; }
  fi

  # Start detached: own session, no inherited stdout (so `$(scripts/synapse.sh start …)` returns).
  local out="$dir/stdout.log"
  local log_offset=0
  [ ! -f "$dir/homeserver.log" ] || log_offset="$(wc -c <"$dir/homeserver.log")"
  # os.setsid() in the exec'ed process itself (not setsid(1), which may fork and break the pid).
  (cd "$dir" && { [ -z "$ca_file" ] || export SSL_CERT_FILE="$ca_file"; } && exec "$py" -c '
import os, sys
try:
    os.setsid()
except OSError:
    pass
os.execv(sys.executable, [sys.executable, "-m", "synapse.app.homeserver", "-c", sys.argv[1]])
' "$dir/homeserver.yaml" </dev/null >>"$out" 2>&1) &
  local pid=$!
  echo "$pid" >"$dir/pid"

  local base="http://127.0.0.1:$port"
  local deadline=$((SECONDS + START_TIMEOUT))
  while true; do
    # Ready = our process is alive, it logged that it listens on our port (so a stranger on the port
    # cannot pass for it), and /versions answers.
    if kill -0 "$pid" 2>/dev/null \
        && tail -c "+$((log_offset + 1))" "$dir/homeserver.log" 2>/dev/null \
           | grep -q "Synapse now listening on TCP port $port\$" \
        && http_ok "$base/_matrix/client/versions"; then
      echo "$base"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "Synapse exited during start-up (see $dir/homeserver.log, $out)"
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "Synapse did not answer /_matrix/client/versions within ${START_TIMEOUT}s"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  {
    echo "----- last 40 lines of $dir/homeserver.log -----"
    tail -n 40 "$dir/homeserver.log" 2>/dev/null || true
    echo "----- last 40 lines of $out -----"
    tail -n 40 "$out" 2>/dev/null || true
  } >&2
  rm -f "$dir/pid"
  exit 1
}

# -------------------------------------------------------------------------------------------------- stop

cmd_stop() {
  [ $# -eq 1 ] || usage
  stop_server "$1"
}

# ---------------------------------------------------------------------------------------------- register

cmd_register() {
  [ $# -eq 3 ] || usage
  python3 - "$@" <<'EOF'
import json, sys, urllib.error, urllib.request

base, localpart, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
url = base + "/_matrix/client/v3/register"

def post(body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw.decode(errors="replace")}

body = {"username": localpart, "password": password, "initial_device_display_name": "vestibule-test",
        "auth": {"type": "m.login.dummy"}}
status, resp = post(body)
if status == 401 and "session" in resp:
    # User-interactive auth: repeat the dummy stage within the server's session.
    body["auth"] = {"type": "m.login.dummy", "session": resp["session"]}
    status, resp = post(body)
if status != 200:
    print(f"synapse.sh: register {localpart} failed: HTTP {status} {json.dumps(resp)}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(resp))
EOF
}

cmd_url() {
  [ $# -eq 1 ] || usage
  local port
  port="$(configured_port "$1")"
  [ -n "$port" ] || die "no homeserver.yaml in $1"
  echo "http://127.0.0.1:$port"
}

# ------------------------------------------------------------------------------------------------- main

[ $# -ge 1 ] || usage
sub="$1"; shift
case "$sub" in
  install) [ $# -eq 0 ] || usage; cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  register) cmd_register "$@" ;;
  url) cmd_url "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
