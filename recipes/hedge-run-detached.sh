#!/usr/bin/env bash
# Start one `hedge run` that outlives the terminal it was started from (a dropped SSH session, a closed laptop),
# in a tmux session to reattach to or as a transient systemd unit, and print how to watch it. Prints one line and
# exits 0 once the run is started; one line on stderr and exit 2 when it cannot be started (nothing traded).
#
#   hedge-run-detached.sh tmux|systemd [HEDGE RUN OPTIONS ...]
#
# tmux: a detached session NAME (HEDGE_SESSION, default hedgectl-hedge) whose pane stays open when the run ends,
#   so its summary and exit status can be read after `tmux attach -t NAME`.
# systemd: `systemd-run --user` starts a transient unit NAME.service whose output goes to the user's journal
#   (`journalctl --user -u NAME -f`); `systemctl --user stop NAME` sends SIGTERM (an emergency exit that ends flat).
#   The unit outlives the login session when lingering is on for the user (`loginctl enable-linger`).
# From any terminal, `hedgectl hedge status` (with --watch, the live view) reads the cycle from the journal.
#
# HEDGECTL (default: hedgectl) names the program, HEDGECTL_CONFIG the config (made absolute), HEDGE_SESSION the
# session or unit name; TMUX_PROGRAM and SYSTEMD_RUN the launchers (default tmux and systemd-run).
set -uo pipefail
source "$(dirname -- "$0")/common.sh"

mode=${1:-}
if [[ $mode != tmux && $mode != systemd ]]; then
    say "usage: $recipe tmux|systemd [HEDGE RUN OPTIONS ...]"
    exit 2
fi
shift
name=${HEDGE_SESSION:-hedgectl-hedge}
hedgectl=${HEDGECTL:-hedgectl}
if [[ $hedgectl == */* ]]; then
    hedgectl=$(realpath -- "$hedgectl")
elif ! hedgectl=$(command -v -- "$hedgectl"); then
    say "${HEDGECTL:-hedgectl} not found; set HEDGECTL to the hedgectl of its virtualenv"
    exit 2
fi
command=("$hedgectl")
if [[ -n ${HEDGECTL_CONFIG:-} ]]; then
    # the run starts elsewhere (a unit's own directory, a tmux server's environment): name the config exactly
    command+=(--config "$(realpath -- "$HEDGECTL_CONFIG")")
fi
command+=(hedge run "$@")
watch="watch it from any terminal: hedgectl hedge status --watch"

if [[ $mode == tmux ]]; then
    tmux=${TMUX_PROGRAM:-tmux}
    if "$tmux" has-session -t "=$name" 2>/dev/null; then
        say "a tmux session $name exists already; attach to it (tmux attach -t $name) or set HEDGE_SESSION"
        exit 2
    fi
    # the session starts with a shell, keeps its pane once the command ends, then runs the command in that pane
    # (directly, no shell between): no moment in which a fast run could end before the pane is told to stay
    if ! "$tmux" new-session -d -s "$name" -x 160 -y 48 \; set-option -t "$name" remain-on-exit on \; \
        respawn-pane -k -t "$name" -- "${command[@]}" 2>"$captured"; then
        say "tmux could not start the session: $(one_line "$captured")"
        exit 2
    fi
    echo "hedge run started in tmux session $name; attach: tmux attach -t $name; $watch"
else
    if ! "${SYSTEMD_RUN:-systemd-run}" --user --unit="$name" --collect --same-dir --quiet \
        --property=TimeoutStopSec=180 --property=KillMode=mixed -- "${command[@]}" 2>"$captured"; then
        say "systemd-run could not start the unit $name: $(one_line "$captured")"
        exit 2
    fi
    echo "hedge run started as unit $name; log: journalctl --user -u $name -f; stop: systemctl --user stop $name; $watch"
fi
