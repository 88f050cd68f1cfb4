#!/usr/bin/env bash
# Where a fuzz run found new code: replays a target's kept corpus as it was at a commit and as
# it is now (libFuzzer's -print_coverage), and prints each function whose covered edges grew,
# split into this project's code (derived serde code included: it is attributed to the line
# of the derive) and libraries. Run after scripts/fuzz.sh (it uses its build).
#
#   scripts/fuzz-coverage.sh REV [TARGET...]     e.g. scripts/fuzz-coverage.sh HEAD event_line
#
# REV: the commit whose fuzz/corpus/ is the "before". Note that a replay is not always exact:
# a target whose code iterates a HashMap can cover an edge more or less from one replay to
# the next (launcher_session's Engine::seen, by one).
set -euo pipefail
cd "$(dirname "$0")/.."

rev="${1:?usage: $0 REV [TARGET...]}"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
bin=fuzz/target/x86_64-unknown-linux-gnu/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One line per covered function: "name @ file:line<TAB>covered edges".
covered() {
    "$bin/$1" -runs=0 -print_coverage=1 "$2" 2>&1 |
        sed -n -E 's/^COVERED_FUNC: hits: [0-9]+ edges: ([0-9]+)\/[0-9]+ (.*) (\S+)$/\2 @ \3\t\1/p' |
        sort -t$'\t' -k1,1
}

for t in "${targets[@]}"; do
    if [ ! -x "$bin/$t" ]; then
        echo "$t: not built (run scripts/fuzz.sh first)" >&2
        exit 2
    fi
    mkdir -p "$work/$t"
    git archive "$rev" "fuzz/corpus/$t" | tar -x -C "$work/$t"
    covered "$t" "$work/$t/fuzz/corpus/$t" >"$work/$t.before"
    covered "$t" "fuzz/corpus/$t" >"$work/$t.after"
    join -t$'\t' -a2 -e0 -o '0,1.2,2.2' "$work/$t.before" "$work/$t.after" |
        awk -F'\t' -v t="$t" -v root="$PWD/" '
            { grew = $3 - $2; if (grew <= 0) next
              if (index($1, root)) { ours += grew; print "  ours +" grew ": " $1 }
              else libs += grew }
            END { printf "%s: edges new since the corpus of the commit: ours %d, libraries %d\n",
                  t, ours, libs }'
done
