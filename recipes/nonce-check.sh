#!/usr/bin/env bash
# Check that hedgectl's nonce of each Lighter connector is in step with the venue; with --fix, adopt the venue's
# nonce where it is not. Prints one line per connector. Exits 1 when one is out of step (and not fixed) or could
# not be read, 2 on bad arguments or config.
#
#   nonce-check.sh [--fix] CONNECTOR [CONNECTOR ...]
#
# HEDGECTL (default: hedgectl) names the program; HEDGECTL_CONFIG the config.
set -uo pipefail

fix=0
if [[ "${1:-}" == "--fix" ]]; then
    fix=1
    shift
fi
if [[ $# -lt 1 ]]; then
    echo "usage: $0 [--fix] CONNECTOR [CONNECTOR ...]" >&2
    exit 2
fi

worst=0
for name in "$@"; do
    "${HEDGECTL:-hedgectl}" --quiet nonce show "$name" --check
    code=$?
    if [[ $code -eq 0 ]]; then
        echo "$name: nonce in step"
    elif [[ $code -eq 1 && $fix -eq 1 ]] && "${HEDGECTL:-hedgectl}" nonce refresh "$name"; then
        echo "$name: nonce was out of step; refreshed"
    else
        echo "$name: nonce out of step or unreadable (exit $code); run: hedgectl nonce show $name" >&2
        (( code > worst )) && worst=$code
    fi
done
exit "$worst"
