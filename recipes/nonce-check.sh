#!/usr/bin/env bash
# Check that hedgectl's nonce of each Lighter connector is in step with the venue; with --fix, adopt the venue's
# nonce where it is not (one line on stdout per nonce refreshed). Silent when every nonce is in step; otherwise one
# line on stderr and exit 1 when one is out of step (and not fixed) or could not be read, 2 on bad arguments or
# config.
#
#   nonce-check.sh [--fix] CONNECTOR [CONNECTOR ...]
#
# HEDGECTL (default: hedgectl) names the program; HEDGECTL_CONFIG the config.
set -uo pipefail
source "$(dirname -- "$0")/common.sh"

fix=0
if [[ "${1:-}" == "--fix" ]]; then
    fix=1
    shift
fi
if [[ $# -lt 1 ]]; then
    say "usage: $recipe [--fix] CONNECTOR [CONNECTOR ...]"
    exit 2
fi

worst=0
problems=()
for name in "$@"; do
    "${HEDGECTL:-hedgectl}" --quiet nonce show "$name" --check >/dev/null 2>"$captured"
    code=$?
    if [[ $code -eq 0 ]]; then
        [[ -s $captured ]] && problems+=("$name: $(one_line "$captured")")
        continue
    fi
    if [[ $code -eq 1 && $fix -eq 1 ]] && "${HEDGECTL:-hedgectl}" --quiet nonce refresh "$name" >/dev/null 2>"$captured"; then
        echo "$name: nonce was out of step; refreshed"
        continue
    fi
    detail=$(one_line "$captured")
    problems+=("$name: nonce out of step or unreadable (exit $code${detail:+: $detail}); run: hedgectl nonce show $name")
    (( code > worst )) && worst=$code
done
if [[ ${#problems[@]} -gt 0 ]]; then
    joined=$(printf '%s; ' "${problems[@]}")
    say "${joined%; }"
fi
exit "$worst"
