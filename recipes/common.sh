# Shared by the recipes (sourced, not run): cron-clean output. A recipe is silent when all is well; when something
# needs a look it writes one line to stderr (which cron mails) and exits non-zero.

recipe=$(basename -- "$0")

# say MESSAGE: one line on stderr, prefixed with the recipe's name
say() {
    printf '%s: %s\n' "$recipe" "$*" >&2
}

# require_dir FILE: stop with one line (exit 2, nothing attempted) when FILE's directory does not exist
require_dir() {
    local dir
    dir=$(dirname -- "$1")
    if [[ ! -d $dir ]]; then
        say "directory $dir does not exist; create it (mkdir -p $dir) or give another path"
        exit 2
    fi
}

# one_line FILE: what a command wrote to stderr (captured in FILE) as one line, without the "error: " and log-line
# prefixes; empty when it wrote nothing
one_line() {
    [[ -s $1 ]] || return 0
    sed -e 's/^error: //' -e 's/^[0-9-]\{10\} [0-9:,.]\{8,12\} [A-Z]\{4,8\} [^ :]*: //' -e 's/[[:space:]]*$//' -- "$1" |
        awk 'NF { printf "%s%s", separator, $0; separator = "; " }'
}

captured=$(mktemp "${TMPDIR:-/tmp}/hedgectl-recipe.XXXXXX")
trap 'rm -f "$captured"' EXIT
