#!/usr/bin/env bash
# fuzz.sh [target...]: builds cdtm's libFuzzer targets (tests/fuzz/fuzz_*.c)
# with clang, ASan and UBSan, runs each for FUZZ_SECONDS, and fails if any of
# them crashed, leaked, timed out or broke an oracle.
#
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_MAX_LEN    longest input libFuzzer makes (default 4096 bytes: every
#                   parser's interesting structure fits; the size limits
#                   themselves are tested in tests/test_bad_input.c)
#   FUZZ_BUILD_DIR  build folder (default <repo>/build-fuzz)
#   targets         names such as trans_json or fuzz_trans_json (default: all)
#   ASAN_OPTIONS, UBSAN_OPTIONS  override the defaults below, e.g. with
#                   UBSAN_OPTIONS=halt_on_error=1:suppressions=<file> to fuzz
#                   on past a known, not yet fixed undefined behaviour
#
# The committed seeds in tests/fuzz/corpus/<name>/ are read, never written:
# what libFuzzer learns goes to $FUZZ_BUILD_DIR/fuzz-work/<name>/corpus.
#
# Regressions: when a target crashes, libFuzzer stops and saves the input
# (crash-*, leak-*, timeout-*, oom-*). This script copies it into
# tests/fuzz/corpus/<name>/ as regress-<kind>-<sha1 prefix>, prints the
# reproducer command, and exits 1. Every ordinary build replays that folder
# as the CTest test fuzz_replay_<name> (tests/fuzz/replay_main.c), so the
# crash stays a failing test until the bug is fixed; keep the file afterwards
# as the test that proves the fix.
#
# A regress-* input that still crashes (its bug is not fixed yet) is reported
# and counts as a failure, but it is left out of that run's seeds, so that it
# does not stop libFuzzer at start-up and the target is still fuzzed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SECS=${FUZZ_SECONDS:-30}
MAX_LEN=${FUZZ_MAX_LEN:-4096}
BUILD=${FUZZ_BUILD_DIR:-$CDTM_ROOT/build-fuzz}
FUZZ_SRC=$CDTM_ROOT/tests/fuzz

die() { echo "fuzz.sh: $*" >&2; exit 2; }

# clang and its runtime (libFuzzer, ASan) are not in install-deps.sh.
if ! command -v clang >/dev/null 2>&1 ||
   ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "clang with libFuzzer is missing: apt-get install clang libclang-rt-14-dev"
  echo "fuzz.sh: installing clang and libclang-rt-14-dev"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    clang libclang-rt-14-dev >/dev/null || die "apt-get install clang libclang-rt-14-dev failed"
fi

targets=()
if [ $# -gt 0 ]; then
  for t in "$@"; do targets+=("${t#fuzz_}"); done
else
  for f in "$FUZZ_SRC"/fuzz_*.c; do
    n=$(basename "$f" .c)
    targets+=("${n#fuzz_}")
  done
fi
[ ${#targets[@]} -gt 0 ] || die "no targets in $FUZZ_SRC"
for t in "${targets[@]}"; do
  [ -f "$FUZZ_SRC/fuzz_$t.c" ] || die "no target $t ($FUZZ_SRC/fuzz_$t.c)"
done

echo "fuzz.sh: building ${targets[*]} in $BUILD"
mkdir -p "$BUILD"
cmake -S "$CDTM_ROOT" -B "$BUILD" -DCDTM_FUZZ=ON -DCMAKE_C_COMPILER=clang >"$BUILD/fuzz-cmake.log" 2>&1 ||
  die "cmake failed: see $BUILD/fuzz-cmake.log"
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >"$BUILD/fuzz-build.log" 2>&1 ||
  die "build failed: see $BUILD/fuzz-build.log"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
summary=()
for t in "${targets[@]}"; do
  work=$BUILD/fuzz-work/$t
  rm -rf "$work/artifacts" "$work/seeds"
  mkdir -p "$work/corpus" "$work/artifacts" "$work/seeds"
  seeds=$FUZZ_SRC/corpus/$t
  [ -d "$seeds" ] || die "no seed corpus $seeds"
  cp "$seeds"/* "$work/seeds/"
  stale=0
  for r in "$work"/seeds/regress-*; do
    [ -e "$r" ] || continue
    if ! ("$BUILD/fuzz_$t" "$r") >"$work/regress.log" 2>&1; then
      stale=1
      failed=1
      summary+=("fuzz_$t: known regression still crashes: $seeds/$(basename "$r")")
      rm -f "$r"
    fi
  done
  echo "fuzz.sh: fuzz_$t for ${SECS}s (max_len $MAX_LEN)"
  # The first folder receives new inputs; the seeds are only read.
  set +e
  "$BUILD/fuzz_$t" -max_total_time="$SECS" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds" \
    >"$work/log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -1)
  cov=$( (grep -o 'cov: [0-9]*' "$work/log" || true) | tail -1 | cut -d' ' -f2)
  found=$(find "$work/artifacts" -type f | sort)
  if [ $rc -ne 0 ] || [ -n "$found" ]; then
    failed=1
    summary+=("fuzz_$t: FAILED (exit $rc, ${execs:-?} execs) - log $work/log")
    (grep -E '^(==[0-9]+==ERROR|SUMMARY|FUZZ ORACLE FAILED)' "$work/log" || true) | head -5 | sed 's/^/    /'
    for a in $found; do
      kind=$(basename "$a" | cut -d- -f1)
      dest=$seeds/regress-$kind-$(sha1sum "$a" | cut -c1-12)
      cp "$a" "$dest"
      echo "    saved $dest"
      echo "    reproduce: $BUILD/fuzz_$t $dest"
    done
  else
    summary+=("fuzz_$t: no new crash, ${execs:-?} execs in ${secs:-$SECS}s, coverage ${cov:-?}, corpus $(ls "$work/corpus" | wc -l) inputs$([ $stale = 0 ] || echo ' (known regressions left out)')")
  fi
done

echo "fuzz.sh: summary"
printf '  %s\n' "${summary[@]}"
exit $failed
