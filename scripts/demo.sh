#!/usr/bin/env bash
# A demo for newcomers: a local homeserver with a demo account and rooms with live calls, and
# Vestibule signed in to it. Everything lives in a temporary folder and goes when the app ends.
#
#   scripts/demo.sh                      open the app on your desktop
#   scripts/demo.sh --screenshot FILE    run it under Xvfb and save a screenshot of its window
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/setup.sh

shot=""
if [ "${1:-}" = "--screenshot" ]; then
  shot="$(realpath -m "${2:?--screenshot needs a file}")"
fi

ensure_cargo
ensure_debian_packages "${BUILD_PACKAGES[@]}" "${WINDOW_PACKAGES[@]}"
if [ -n "$shot" ]; then
  ensure_debian_packages xvfb imagemagick xdotool libgl1-mesa-dri dbus-daemon
fi
scripts/synapse.sh install >/dev/null
cargo build --release --locked --quiet

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  scripts/synapse.sh stop "$work/synapse" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

url="$(scripts/synapse.sh start "$work/synapse")"
python3 scripts/demo_data.py "$url" sam demo-password
echo "Demo homeserver at $url; signed in as sam (password demo-password)." >&2

# The demo keeps its own profile, secret and settings, away from the user's.
export VESTIBULE_DATA_DIR="$work/app" VESTIBULE_SECRET_STORE=file
echo demo-password | target/release/vestibule login "$url" sam >/dev/null

if [ -z "$shot" ]; then
  target/release/vestibule
  exit 0
fi

display=:$((90 + RANDOM % 9))
mkdir -m 700 -p "$work/run"
export XDG_RUNTIME_DIR="$work/run"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp &
pids+=($!)
sleep 1
DISPLAY="$display" dbus-run-session -- target/release/vestibule >"$work/app.log" 2>&1 &
pids+=($!)
window=""
for _ in $(seq 1 100); do
  window="$(DISPLAY="$display" xdotool search --name '^Vestibule$' 2>/dev/null | head -1 || true)"
  [ -n "$window" ] && break
  sleep 0.2
done
[ -n "$window" ] || { cat "$work/app.log" >&2; echo "The window did not appear." >&2; exit 1; }
# Let the first sync land and the lobby fill in.
sleep "${SCREENSHOT_DELAY:-6}"
mkdir -p "$(dirname "$shot")"
DISPLAY="$display" import -window "$window" "$shot"
echo "Saved $shot" >&2
