#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer (CMakeLists.txt through
# cmake-js, offline: Node-API headers come from the node-api-headers package) and runs the
# unit suite against it. Fails when mocha fails or when any sanitizer report appears: ASan
# writes its reports to files (so one from a child process cannot hide in a captured stderr);
# UBSan, which ignores log_path when combined with ASan in GCC, halts the process and is also
# caught by scanning mocha's output.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-asan
npx cmake-js build --out "$out" --parallel 2 --CDODXCP_SANITIZE=ON
addon="$PWD/$out/Release/odxcp.node"
[ -f "$addon" ] || { echo "asan: $addon was not built" >&2; exit 1; }
npx tsc -p .

# The ASan runtime must be the first library loaded; node itself is not instrumented.
libasan=$(g++ -print-file-name=libasan.so)
libubsan=$(g++ -print-file-name=libubsan.so)
for lib in "$libasan" "$libubsan"; do
  [ -e "$lib" ] || { echo "asan: sanitizer runtime $lib not found (install gcc's libasan/libubsan)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
reports="$work/reports"
mkdir "$reports"
chmod 755 "$work"
chmod 1777 "$reports"  # a test runs a child as an unprivileged user; it must be able to report too

status=0
ODXCP_NATIVE="$addon" \
LD_PRELOAD="$libasan $libubsan" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$reports/asan" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan" \
  npx mocha 2>&1 | tee "$work/mocha.log" || status=$?

if grep -qE 'ERROR: AddressSanitizer|runtime error:|UndefinedBehaviorSanitizer' "$work/mocha.log"; then
  echo "asan: sanitizer output in the test log (see above)" >&2
  exit 1
fi
if compgen -G "$reports/*" > /dev/null; then
  echo "asan: sanitizer reports:" >&2
  for f in "$reports"/*; do
    echo "==== $(basename "$f")" >&2
    cat "$f" >&2
  done
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "asan: mocha failed (exit $status) under the sanitizer build" >&2
  exit "$status"
fi
echo "asan: unit suite passed against $out/Release/odxcp.node with no sanitizer report"
