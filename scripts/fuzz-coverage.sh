#!/usr/bin/env bash
# Where a fuzz run found new code: replays a target's kept corpus as it was at a commit and as
# it is now (libFuzzer's -print_coverage) and counts the new edges in libraries, in the serde
# code derived for our types, and in the code written here, listing the functions of the last
# and the new edges that are on lines written here rather than library code inlined into
# them. A run found nothing new in our own code when that last figure is 0. Run after
# scripts/fuzz.sh (it uses its build).
#
#   scripts/fuzz-coverage.sh REV[..REV2] [TARGET...]   e.g. scripts/fuzz-coverage.sh HEAD event_line
#
# REV: the commit whose fuzz/corpus/ is the "before"; the "after" is fuzz/corpus/ as it is, or
# REV2's. Note that a replay is not always exact:
# a target whose code iterates a HashMap can cover an edge more or less from one replay to
# the next (launcher_session's Engine::seen, by one).
set -euo pipefail
cd "$(dirname "$0")/.."

rev="${1:?usage: $0 REV[..REV2] [TARGET...]}"
shift
# REV..REV2: the corpus of REV2 is the "after" instead of fuzz/corpus/ as it is now.
to=""
case "$rev" in *..*) to="${rev#*..}"; rev="${rev%%..*}" ;; esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
bin=fuzz/target/x86_64-unknown-linux-gnu/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The replay's coverage report (libFuzzer's -print_coverage) into $3.report, and from it:
# $3, one line per covered function, "name @ file:line<TAB>covered edges" (summed over the
# function's copies: two instances of a generic can print the same name);
# $3.pcs, one line per source location with edges left uncovered inside a covered function
# of this project's (the fuzz targets' own checks left out), "name<TAB>location<TAB>edges".
# A location is where the edge's code came from: a line of ours, or of the standard library
# or a crate inlined into ours (shortened to std/ and the crate's name); line 0 is code the
# compiler made.
covered() {
    "$bin/$1" -runs=0 -print_coverage=1 "$2" >"$3.report" 2>&1
    sed -n -E 's/^COVERED_FUNC: hits: [0-9]+ edges: ([0-9]+)\/[0-9]+ (.*) (\S+)$/\2 @ \3\t\1/p' \
        "$3.report" | awk -F'\t' '{ n[$1] += $2 } END { for (f in n) print f "\t" n[f] }' |
        sort -t$'\t' -k1,1 >"$3"
    awk -v root="$PWD/" '
        /^(UN)?COVERED_FUNC:/ { f = ""; if (index($NF, root) == 1 && index($NF, root "fuzz/") != 1) {
            f = $0; sub(/^[A-Z_]+: hits: [0-9]+ edges: [0-9]+\/[0-9]+ /, "", f); sub(/ [^ ]+$/, "", f) } }
        /^  UNCOVERED_PC:/ && f != "" { loc = $2; sub(root, "", loc)
            sub(/^\/rustc\/[0-9a-f]+\/library\//, "std/", loc)
            sub(/^\/root\/.cargo\/registry\/src\/[^\/]+\//, "", loc)
            n[f "\t" loc]++ }
        END { for (k in n) print k "\t" n[k] }' "$3.report" | sort -t$'\t' -k1,2 >"$3.pcs"
}

for t in "${targets[@]}"; do
    if [ ! -x "$bin/$t" ]; then
        echo "$t: not built (run scripts/fuzz.sh first)" >&2
        exit 2
    fi
    mkdir -p "$work/$t"
    git archive "$rev" "fuzz/corpus/$t" | tar -x -C "$work/$t"
    covered "$t" "$work/$t/fuzz/corpus/$t" "$work/$t.before"
    after="fuzz/corpus/$t"
    if [ -n "$to" ]; then
        mkdir -p "$work/$t.to"
        git archive "$to" "fuzz/corpus/$t" | tar -x -C "$work/$t.to"
        after="$work/$t.to/fuzz/corpus/$t"
    fi
    covered "$t" "$after" "$work/$t.after"
    join -t$'\t' -a2 -e0 -o '0,1.2,2.2' "$work/$t.before" "$work/$t.after" >"$work/$t.funcs"
    # From the functions' edges before and after ($1) and the uncovered edges' locations
    # before ($2) and after ($3): the new edges in libraries, in the serde code derived for
    # our types, and in the code written here; and of the last, those on a line written here
    # (a branch of ours taken for the first time) rather than library code inlined into ours
    # (a loop over more elements, a string with other characters). This last figure is the
    # one that says whether a run found anything new in our own parsing.
    awk -F'\t' -v t="$t" -v rev="$rev" -v root="$PWD/" '
        function derived(f) { return f ~ /as serde_core::(de::Deserialize|ser::Serialize)>|__(Field)?Visitor/ }
        FILENAME == ARGV[1] { grew = $3 - $2; if (grew <= 0) next
            name = $1; sub(/ @ [^ ]+$/, "", name)
            if (!index($1, root)) libs += grew
            else if (index($1, root "fuzz/")) checks += grew
            else if (derived(name)) serde += grew
            else { here += grew; fn[++nf] = "  +" grew " in " name (($2 == 0) ? " (first covered)" : "")
                   if ($2 == 0) first++ }
            next }
        FILENAME == ARGV[2] { before[$1 "\t" $2] = $3; next }
        { after[$1 "\t" $2] = $3 }
        END {
            for (k in before) { d = before[k] - (k in after ? after[k] : 0); split(k, p, "\t")
                if (d > 0 && !derived(p[1]) && p[2] ~ /^[a-z]+\/src\// && p[2] !~ /:0$/) {
                    own += d; line[++nl] = "    +" d " at " p[2] " (in " p[1] ")" } }
            printf "%s: edges new since the corpus of %s: libraries %d, serde-derived %d, " \
                "the target'"'"'s checks %d, written here %d\n", t, rev, libs, serde, checks, here
            for (i = 1; i <= nf; i++) print fn[i]
            printf "  on lines written here: %d%s\n", own,
                first ? " (and " first " function(s) first covered: see above)" : ""
            for (i = 1; i <= nl; i++) print line[i] }' \
        "$work/$t.funcs" "$work/$t.before.pcs" "$work/$t.after.pcs"
done
