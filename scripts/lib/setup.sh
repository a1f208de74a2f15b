# Shared set-up for scripts/run.sh and scripts/test.sh: installs what a fresh Debian/Ubuntu
# machine lacks. Sourced, not run.

# Installs the Debian packages named as arguments that are not installed yet.
ensure_debian_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing system packages (${missing[*]}) and no apt-get to install them: install them and run again." >&2
    return 1
  fi
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  echo "Installing system packages: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
}

# The packages the build needs.
BUILD_PACKAGES=(pkg-config libasound2-dev)
# What the window loads at run time (present on any desktop; a bare system lacks them).
WINDOW_PACKAGES=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0)
# What the tests need besides: a session bus, a Secret Service for the keyring test, the
# validators of the desktop entry and the AppStream metainfo for the package test, and an X
# server with its clients (and Mesa's software GL) for the real window's test.
TEST_PACKAGES=(dbus-daemon dbus-session-bus-common gnome-keyring desktop-file-utils appstream
  xvfb xdotool x11-utils libgl1-mesa-dri "${WINDOW_PACKAGES[@]}")

# Makes sure cargo is on PATH (rustup installs it under ~/.cargo/bin).
ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || {
    echo "cargo was not found: install Rust with rustup (https://rustup.rs) and run again." >&2
    return 1
  }
}
