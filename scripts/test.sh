#!/usr/bin/env bash
# test.sh: the one command that runs every cdtm test. It installs what is
# missing (scripts/install-deps.sh), builds, starts a private MariaDB on a free
# port under .run/, runs CTest (C tests and the Node cross-implementation
# tests), and stops the server again, whatever happened.
#   CDTM_BUILD_DIR    build folder (default build)
#   CDTM_CMAKE_ARGS   extra CMake arguments (e.g. -DCDTM_SANITIZE=ON)
#   CTEST_ARGS        extra CTest arguments (e.g. -R barrier)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

./scripts/install-deps.sh

BUILD=${CDTM_BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD" ${CDTM_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

export CDTM_RUN=$CDTM_ROOT/.run/t$$
export MARIADB_PORT
MARIADB_PORT=$(free_port)
mkdir -p "$CDTM_RUN"
cleanup() {
  ./scripts/mariadb.sh stop >/dev/null 2>&1 || true
  rm -rf "$CDTM_RUN"
}
trap cleanup EXIT
./scripts/mariadb.sh start

# shellcheck disable=SC2086
ctest --test-dir "$BUILD" --output-on-failure ${CTEST_ARGS:-}
