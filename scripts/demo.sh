#!/usr/bin/env bash
# A demo for newcomers: a local homeserver with a demo account and rooms with live calls, and
# Vestibule signed in to it. Everything lives in a temporary folder and goes when the app ends.
#
#   scripts/demo.sh                      open the app on your desktop
#   scripts/demo.sh --screenshot [DIR]   run it under Xvfb and save one picture per screen in DIR
#                                        (default docs/screenshots): main.png (live calls, a
#                                        person on two devices; dark), main-light.png,
#                                        incoming.png, history.png, settings.png, signin.png
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/setup.sh

shot=""
if [ "${1:-}" = "--screenshot" ]; then
  shot="$(realpath -m "${2:-docs/screenshots}")"
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
python3 scripts/demo_data.py "$url" sam demo-password "$work/state.json"
echo "Demo homeserver at $url; signed in as sam (password demo-password)." >&2

# The demo keeps its own profile, secret and settings, away from the user's.
export VESTIBULE_DATA_DIR="$work/app" VESTIBULE_SECRET_STORE=file
echo demo-password | target/release/vestibule login "$url" sam >/dev/null

if [ -z "$shot" ]; then
  target/release/vestibule
  exit 0
fi

mkdir -m 700 -p "$work/run" "$shot"
export XDG_RUNTIME_DIR="$work/run" RUST_LOG=vestibule=info
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>/dev/null &
pids+=($!)
until [ -s "$work/display" ]; do sleep 0.1; done
export DISPLAY=":$(cat "$work/display")"

# Waits (up to 30 s) until `xdotool search ARGS…` finds a window, and prints its id.
find_window() {
  local id=""
  for _ in $(seq 1 300); do
    id="$(xdotool search "$@" 2>/dev/null | head -1 || true)"
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.1
  done
  cat "$work/app.log" >&2
  echo "No window matched $*." >&2
  return 1
}
# Waits (up to 30 s) for a line of the app's log.
wait_for_log() {
  for _ in $(seq 1 300); do
    grep -q "$1" "$work/app.log" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$work/app.log" >&2
  echo "The app never logged \"$1\"." >&2
  return 1
}
snap() {
  # What is on screen settles within a frame or two of the change that was waited for.
  sleep 0.5
  import -window "$1" "$shot/$2"
  echo "Saved $shot/$2" >&2
}

dbus-run-session -- target/release/vestibule >"$work/app.log" 2>&1 &
pids+=($!)
window="$(find_window --onlyvisible --name '^Vestibule$')"
wait_for_log "startup: lobbies"
# The people's names and avatars come just after the lobbies.
sleep 2
snap "$window" main.png

python3 scripts/demo_data.py --ring "$work/state.json"
incoming="$(find_window --onlyvisible --name 'call from')"
snap "$incoming" incoming.png
python3 scripts/demo_data.py --hang-up "$work/state.json"
find_window --onlyvisible --name '^Call ended$' >/dev/null
# The ended call's window says why for a few seconds, then goes.
while xdotool search --onlyvisible --name '^Call ended$' >/dev/null 2>&1; do sleep 0.2; done

# The ring found no sound device and no notification service here (Xvfb, a bare session bus):
# the banners that say so are dismissed with their close button at the window's top right.
for _ in 1 2; do
  xdotool mousemove --window "$window" 966 19 click 1
  sleep 0.3
done
# A click on "Recent calls" at the top left opens it.
xdotool mousemove --window "$window" 70 23 click 1
xdotool mousemove --window "$window" 500 600
snap "$window" history.png
xdotool windowfocus --sync "$window" key ctrl+comma
snap "$window" settings.png

# A profile that is not signed in shows the sign-in form.
VESTIBULE_PROFILE=signin dbus-run-session -- target/release/vestibule >>"$work/app.log" 2>&1 &
pids+=($!)
signin=""
for _ in $(seq 1 300); do
  for id in $(xdotool search --onlyvisible --name '^Vestibule$' 2>/dev/null); do
    [ "$id" != "$window" ] && signin="$id"
  done
  [ -n "$signin" ] && break
  sleep 0.1
done
[ -n "$signin" ] || { echo "The sign-in window did not appear." >&2; exit 1; }
snap "$signin" signin.png

# The same main screen in light colours: the app again, with the setting for it.
for id in "$window" "$signin"; do
  app_pid="$(xdotool getwindowpid "$id")"
  kill "$app_pid"
  while kill -0 "$app_pid" 2>/dev/null; do sleep 0.1; done
done
config="$VESTIBULE_DATA_DIR/default/config.toml"
if grep -q '^\[window\]' "$config" 2>/dev/null; then
  sed -i '/^\[window\]/a appearance = "light"' "$config"
else
  printf '\n[window]\nappearance = "light"\n' >>"$config"
fi
: >"$work/app.log"
dbus-run-session -- target/release/vestibule >"$work/app.log" 2>&1 &
pids+=($!)
window="$(find_window --onlyvisible --name '^Vestibule$')"
wait_for_log "startup: lobbies"
sleep 2
snap "$window" main-light.png
