#!/usr/bin/env bash
# Builds the .deb with cargo-deb from the binary the tests just built, installs it, runs
# `vestibule --version` and `vestibule --help` from PATH, checks the installed desktop files,
# and removes the package again. Part of scripts/test.sh; needs root or sudo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/setup.sh

CARGO_DEB_VERSION=3.8.0
CACHE_ROOT="${VESTIBULE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vestibule-dev}"
DEB_TOOL="$CACHE_ROOT/cargo-deb-$CARGO_DEB_VERSION"
if [ ! -x "$DEB_TOOL/bin/cargo-deb" ]; then
  echo "Installing cargo-deb $CARGO_DEB_VERSION into $DEB_TOOL" >&2
  cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION" --root "$DEB_TOOL"
fi
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)

# The debug build the tests use: packaging it proves the package, and saves a release build.
deb="$("$DEB_TOOL/bin/cargo-deb" --profile dev --no-build --fast --quiet --output target/debian/)"
deb="${deb:-$(ls -t target/debian/*.deb | head -1)}"
echo "== package $deb" >&2
dpkg-deb --info "$deb" | grep -E "Package|Version|Depends" >&2

if dpkg-query -W -f='${Status}' vestibule 2>/dev/null | grep -q "install ok installed"; then
  echo "A vestibule package is installed already; not replacing it." >&2
  exit 1
fi
remove() { "${sudo[@]}" dpkg -r vestibule >/dev/null 2>&1 || true; }
trap remove EXIT
# apt installs the package's dependencies too (the GL and windowing libraries).
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$(realpath "$deb")" >/dev/null

fail() { echo "deb test: $*" >&2; exit 1; }
[ "$(command -v vestibule)" = /usr/bin/vestibule ] || fail "vestibule is not on PATH from /usr/bin"
version="$(vestibule --version)"
case "$version" in
  "vestibule $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) ("*")") ;;
  *) fail "unexpected --version: $version" ;;
esac
vestibule --help | grep -q "Sign in" || fail "--help does not list the commands"
for f in /usr/share/applications/im.vestibule.Vestibule.desktop \
         /usr/share/metainfo/im.vestibule.Vestibule.metainfo.xml \
         /usr/share/icons/hicolor/scalable/apps/im.vestibule.Vestibule.svg \
         /usr/share/icons/hicolor/256x256/apps/im.vestibule.Vestibule.png \
         /usr/share/vestibule/ringtone.wav; do
  [ -f "$f" ] || fail "$f is not installed"
done
desktop-file-validate /usr/share/applications/im.vestibule.Vestibule.desktop
appstreamcli validate --no-net /usr/share/metainfo/im.vestibule.Vestibule.metainfo.xml >/dev/null
remove
trap - EXIT
command -v vestibule >/dev/null && fail "vestibule is still on PATH after removal"
echo "deb test: installed, ran $version, removed" >&2
