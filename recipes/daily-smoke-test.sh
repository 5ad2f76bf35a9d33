#!/usr/bin/env bash
# Smoke-test each connector (a chased limit fill, a reduce-only close, nothing left open) and append each report
# as a JSON line to LOG. Exits with the worst code: 0 all passed, 1 a test failed with nothing left open, 4
# something is left open (act now), 2 bad arguments or config.
#
#   daily-smoke-test.sh LOG CONNECTOR [CONNECTOR ...]
#
# HEDGECTL (default: hedgectl) and PYTHON (default: python3) name the programs; HEDGECTL_CONFIG the config;
# SMOKE_TIMEOUT the seconds each limit order may chase the book (default 120).
set -uo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 LOG CONNECTOR [CONNECTOR ...]" >&2
    exit 2
fi
log=$1
shift

worst=0
for name in "$@"; do
    report=$("${HEDGECTL:-hedgectl}" smoke-test "$name" --timeout "${SMOKE_TIMEOUT:-120}" --json)
    code=$?
    if [[ -n "$report" ]]; then
        REPORT="$report" EXIT_CODE="$code" "${PYTHON:-python3}" -c '
import datetime, json, os, sys
record = {"taken_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
          "exit_code": int(os.environ["EXIT_CODE"]), **json.loads(os.environ["REPORT"])}
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps(record, separators=(",", ":")) + "\n")
' "$log"
    fi
    (( code > worst )) && worst=$code
done
exit "$worst"
