#!/usr/bin/env bash
# Smoke-test each connector (a chased limit fill, a reduce-only close, nothing left open) and append each report
# as a JSON line to LOG. Silent when every test passed; otherwise one line on stderr naming each failure, and the
# worst code: 1 a test failed with nothing left open (or LOG could not be written), 4 something is left open (act
# now), 2 bad arguments or config or a missing directory (nothing was traded).
#
#   daily-smoke-test.sh LOG CONNECTOR [CONNECTOR ...]
#
# HEDGECTL (default: hedgectl) and PYTHON (default: python3) name the programs; HEDGECTL_CONFIG the config;
# SMOKE_TIMEOUT the seconds each limit order may chase the book (default 120).
set -uo pipefail
source "$(dirname -- "$0")/common.sh"

if [[ $# -lt 2 ]]; then
    say "usage: $recipe LOG CONNECTOR [CONNECTOR ...]"
    exit 2
fi
log=$1
shift
require_dir "$log"

worst=0
problems=()
for name in "$@"; do
    report=$("${HEDGECTL:-hedgectl}" --quiet smoke-test "$name" --timeout "${SMOKE_TIMEOUT:-120}" --json \
        2>"$captured")
    code=$?
    detail=$(one_line "$captured")
    if [[ -n "$report" ]]; then
        if ! written=$(REPORT="$report" EXIT_CODE="$code" "${PYTHON:-python3}" -c '
import datetime, json, os, sys
record = {"taken_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
          "exit_code": int(os.environ["EXIT_CODE"]), **json.loads(os.environ["REPORT"])}
try:
    with open(sys.argv[1], "a", encoding="utf-8") as out:
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
except OSError as exc:
    print(f"cannot write {sys.argv[1]}: {exc.strerror}")
    sys.exit(1)
' "$log" 2>&1); then
            problems+=("$name: $written")
            (( worst < 1 )) && worst=1
        fi
    fi
    if [[ $code -ne 0 ]]; then
        problems+=("$name: smoke test failed (exit $code${detail:+: $detail})")
    elif [[ -n $detail ]]; then
        problems+=("$name: $detail")
    fi
    (( code > worst )) && worst=$code
done
if [[ ${#problems[@]} -gt 0 ]]; then
    joined=$(printf '%s; ' "${problems[@]}")
    say "${joined%; } (reports in $log)"
fi
exit "$worst"
