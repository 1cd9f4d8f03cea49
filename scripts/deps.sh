# Sourced by scripts/test and scripts/demo: installs the Debian packages lamin-cpp needs, only when missing.
LAMIN_DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev nlohmann-json3-dev libspdlog-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  libgtest-dev libcpp-httplib-dev
  python3 python3-torch python3-yaml sqlite3
)

lamin_install_deps() {
  local missing=()
  local pkg
  for pkg in "${LAMIN_DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  echo "lamin-cpp: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

lamin_configure_and_build() {
  local build_dir="$1"
  shift
  local generator=()
  if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
  else
    cmake "$build_dir" "$@" >/dev/null
  fi
  cmake --build "$build_dir" -j "$(nproc)"
}
