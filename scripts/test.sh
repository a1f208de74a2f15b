#!/usr/bin/env bash
# Runs Vestibule's whole test suite, installing what is missing first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/setup.sh

ensure_cargo
ensure_debian_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"

echo "== homeserver for the integration tests" >&2
# Synapse in a venv cached outside the checkout; each test binary starts its own on loopback.
scripts/synapse.sh install >/dev/null
echo "== sign-in servers for the OAuth 2.0 and single sign-on tests" >&2
# An OpenID provider (npm oidc-provider on Node 22), Synapse 1.156 delegating auth to it, and the
# oidc extra for single sign-on; all cached outside the checkout like the venv above.
scripts/oidc.sh install >/dev/null
SYNAPSE_AUTH=oauth scripts/synapse.sh install >/dev/null
SYNAPSE_AUTH=sso scripts/synapse.sh install >/dev/null

echo "== format" >&2
cargo fmt --all -- --check
echo "== lint" >&2
cargo clippy --all-targets --locked -- -D warnings
echo "== tests" >&2
# Every test, and the criterion benches once each as a smoke test; `benches/matrix.rs` (minutes
# against a homeserver) only runs under `cargo bench`.
cargo test --locked --lib --bins --tests --bench rtc
echo "== package" >&2
# The .deb of the binary just built: installed, run from PATH, removed.
scripts/deb-test.sh
