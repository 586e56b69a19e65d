#!/usr/bin/env bash
# Smoke test of the built app (run after packaging/build.sh): the frozen GUI opens the demo and
# saves a screenshot under Xvfb, and the frozen CLI predicts on a demo face.
#
#   packaging/smoke.sh [dist/gmxai-desktop]
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${1:-dist/gmxai-desktop}
OUT=${OUT:-build/smoke}
mkdir -p "$OUT"
export GMXAI_CONFIG_DIR=$PWD/$OUT/config  # never touch the user's settings
unset QT_QPA_PLATFORM
face=$(find "$DIST" -path '*resources/demo/images/*' -name '*.png' | sort | awk 'NR == 1')  # awk reads all: no SIGPIPE
[ -n "$face" ] || { echo "smoke: no demo face inside $DIST" >&2; exit 1; }

echo "== gmxai --help"
python3 - "$DIST/gmxai" <<'PY'
import subprocess, sys, time
t0 = time.perf_counter()
subprocess.run([sys.argv[1], "--help"], check=True, capture_output=True)
print(f"   {time.perf_counter() - t0:.2f} s")
PY

echo "== gmxai predict --model demo $(basename "$face")"
"$DIST/gmxai" predict --model demo "$face" | tee "$OUT/predict.txt"
grep -q . "$OUT/predict.txt"

echo "== gmxai-desktop --demo --screenshot (Xvfb 1366x768)"
rm -f "$OUT/trace.txt" "$OUT/frozen.png"
t0=$(date +%s.%N)  # GNU date
GMXAI_STARTUP_TRACE=$PWD/$OUT/trace.txt xvfb-run -a -s "-screen 0 1366x768x24" \
  "$DIST/gmxai-desktop" --demo --size 1366x768 --screenshot "$OUT/frozen.png" --screenshot-timeout 300
awk -v t0="$t0" '{printf "   %-15s %6.2f s after launch\n", $1, $2 - t0}' "$OUT/trace.txt"
python3 - "$OUT/frozen.png" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as fh:
    head = fh.read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", head[16:24])
print(f"   screenshot {w}x{h}")
PY
echo "smoke: ok"
