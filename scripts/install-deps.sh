#!/usr/bin/env bash
# install-deps.sh: installs, with apt, every Debian package that cdtm's build,
# demo and tests need, and the Node test tools (npm, into tests/node). It is
# idempotent: when everything is present it changes nothing. Run it as root.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  cmake pkg-config gcc make curl ca-certificates
  libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libprotobuf-c-dev protobuf-c-compiler
  libjansson-dev libcivetweb-dev libyaml-dev libmariadb-dev libssl-dev
  mariadb-server mariadb-client
  etcd-server etcd-client
  nodejs npm
)
# The sanitizer build (.ci/run) uses clang and its runtime.
if [ "${CDTM_SANITIZE_DEPS:-0}" = 1 ]; then PKGS+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${PKGS[@]}"; do
  # Node is often preinstalled outside apt (e.g. /usr/local/bin/node): accept it.
  if { [ "$p" = nodejs ] && command -v node >/dev/null; } ||
     { [ "$p" = npm ] && command -v npm >/dev/null; }; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: missing packages: ${missing[*]}" >&2
    echo "install-deps.sh: run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node test tools (@grpc/grpc-js, an independent gRPC implementation), pinned
# by tests/node/package-lock.json.
if [ ! -d tests/node/node_modules/@grpc/grpc-js ]; then
  echo "install-deps.sh: installing the Node test tools (npm ci)"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi
