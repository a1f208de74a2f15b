#!/usr/bin/env bash
# Builds and starts Vestibule, installing what the build needs first. Arguments go to vestibule.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/setup.sh

ensure_cargo
ensure_debian_packages "${BUILD_PACKAGES[@]}" "${WINDOW_PACKAGES[@]}"
exec cargo run --release --locked --quiet -- "$@"
