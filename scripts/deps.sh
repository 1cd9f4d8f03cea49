# Sourced by scripts/test and scripts/demo: installs the Debian packages lamin-cpp needs, only when missing.
LAMIN_DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev nlohmann-json3-dev libspdlog-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  libgtest-dev libcpp-httplib-dev
  python3 python3-torch python3-yaml sqlite3
)
# Wanted but not required: without them the tests that need them skip. graphviz renders `lamin lineage --format svg`.
LAMIN_OPTIONAL_DEBIAN_PACKAGES=(graphviz)

lamin_missing_packages() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      echo "$pkg"
    fi
  done
}

lamin_install_deps() {
  local missing optional
  mapfile -t missing < <(lamin_missing_packages "${LAMIN_DEBIAN_PACKAGES[@]}")
  mapfile -t optional < <(lamin_missing_packages "${LAMIN_OPTIONAL_DEBIAN_PACKAGES[@]}")
  if [ "${#missing[@]}" -eq 0 ] && [ "${#optional[@]}" -eq 0 ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq || [ "${#missing[@]}" -eq 0 ]
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "lamin-cpp: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ "${#optional[@]}" -gt 0 ]; then
    echo "lamin-cpp: installing ${optional[*]} (optional)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null ||
      echo "lamin-cpp: could not install ${optional[*]}; the tests that need it will skip"
  fi
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
