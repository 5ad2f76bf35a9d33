#!/usr/bin/env bash
# Append one snapshot of every connector's positions to FILE: a JSON line per run, or CSV rows when FILE ends
# in .csv (one row per position, one per venue that could not be read; a header when the file is new).
# Silent when every venue was read; otherwise one line on stderr and hedgectl's exit code: 1 when a venue could
# not be read (the snapshot still records which), 2 on bad arguments or config or a missing directory.
#
#   positions-snapshot.sh FILE [CONNECTOR ...]
#
# HEDGECTL (default: hedgectl) and PYTHON (default: python3) name the programs to run; HEDGECTL_CONFIG the config.
set -uo pipefail
source "$(dirname -- "$0")/common.sh"

if [[ $# -lt 1 ]]; then
    say "usage: $recipe FILE [CONNECTOR ...]"
    exit 2
fi
file=$1
shift
require_dir "$file"

status=0
document=$("${HEDGECTL:-hedgectl}" --quiet positions --json "$@" 2>"$captured") || status=$?
if [[ -z "$document" ]]; then
    # nothing was read (bad config or arguments)
    say "$(one_line "$captured") (exit $status)"
    exit "$((status ? status : 1))"
fi

# the Python part appends the snapshot and prints the connectors that could not be read (nothing when all were)
if ! unread=$(SNAPSHOT="$document" EXIT_CODE="$status" "${PYTHON:-python3}" - "$file" 2>&1 <<'PY'
import csv, datetime, json, os, sys

path = sys.argv[1]
snapshot = json.loads(os.environ["SNAPSHOT"])
taken = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
unread = ", ".join(sorted({str(error.get("connector")) for error in snapshot.get("errors", [])}))
try:
    if not path.endswith(".csv"):
        record = {"taken_at": taken, "exit_code": int(os.environ["EXIT_CODE"]), **snapshot}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        print(unread)
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
    print(unread)
except OSError as exc:
    print(f"cannot write {path}: {exc.strerror}")
    sys.exit(1)
PY
); then
    say "$unread"
    exit 1
fi
if [[ $status -ne 0 ]]; then
    detail=$(one_line "$captured")
    say "could not read ${unread:-every connector}${detail:+: $detail} (exit $status; recorded in $file)"
elif [[ -s $captured ]]; then
    say "$(one_line "$captured")"  # warnings: the snapshot was taken, but something needs a look
fi
exit "$status"
