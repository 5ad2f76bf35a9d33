#!/usr/bin/env bash
# Append one snapshot of every connector's positions to FILE: a JSON line per run, or CSV rows when FILE ends
# in .csv (one row per position, one per venue that could not be read; a header when the file is new).
# Exits with hedgectl's code: 0, or 1 when a venue could not be read (the snapshot still records which).
#
#   positions-snapshot.sh FILE [CONNECTOR ...]
#
# HEDGECTL (default: hedgectl) and PYTHON (default: python3) name the programs to run; HEDGECTL_CONFIG the config.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 FILE [CONNECTOR ...]" >&2
    exit 2
fi
file=$1
shift

status=0
document=$("${HEDGECTL:-hedgectl}" positions --json "$@") || status=$?
if [[ -z "$document" ]]; then
    exit "$status"  # nothing was read (bad config or arguments): hedgectl has said why on stderr
fi

SNAPSHOT="$document" EXIT_CODE="$status" "${PYTHON:-python3}" - "$file" <<'PY'
import csv, datetime, json, os, sys

path = sys.argv[1]
snapshot = json.loads(os.environ["SNAPSHOT"])
taken = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
if not path.endswith(".csv"):
    record = {"taken_at": taken, "exit_code": int(os.environ["EXIT_CODE"]), **snapshot}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.exit(0)
columns = ["taken_at", "connector", "venue", "role", "symbol", "signed_size", "entry_price", "mark_price",
           "unrealized_pnl", "liquidation_price", "equity", "net", "error"]
net = (snapshot.get("net") or {}).get("signed_size")
rows = [{**row, "taken_at": taken, "net": net} for row in snapshot["positions"]]
rows += [{**error, "taken_at": taken, "net": net} for error in snapshot["errors"]]
new = not os.path.exists(path) or os.path.getsize(path) == 0
with open(path, "a", encoding="utf-8", newline="") as out:
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    if new:
        writer.writeheader()
    writer.writerows(rows)
PY
exit "$status"
