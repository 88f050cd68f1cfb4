#!/usr/bin/env bash
# Fuzzes every parser (fuzz/fuzz_targets/) with cargo-fuzz for a given time each, starting
# from the kept corpus and the seeds, then minimises what it found back into fuzz/corpus/.
# Not part of the test suite (the suite runs the kept corpora through the same checks, on
# stable Rust, in fuzz/check/tests/corpus.rs).
#
#   scripts/fuzz.sh [--time SECONDS] [--jobs N] [--no-update] [TARGET...]
#
# A target with a dictionary in fuzz/dicts/<target>.dict (its format's keywords) gets it.
# --time: seconds per target (default 120); --jobs: targets fuzzed at once (default 1; this
# is a 2-core machine others share); --no-update: leave fuzz/corpus/ as it is. Prints, per
# target, the runs (executions), coverage (libFuzzer's cov: edges, ft: features), the
# corpus before and after (minimised), and the run at which cov last grew; exits 1 if any
# target crashed (the input is in fuzz/artifacts/<target>/: keep it in
# fuzz/regressions/<target>/ with the fix).
set -euo pipefail
cd "$(dirname "$0")/.."

time_each=120
jobs=1
update=1
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) time_each="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --no-update) update=0; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
for t in "${targets[@]}"; do
    if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
        echo "no fuzz target $t; they are: $(cd fuzz/fuzz_targets && ls | sed 's/\.rs$//' | xargs)" >&2
        exit 2
    fi
done

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# cargo-fuzz passes -Z flags (sanitizers, coverage instrumentation); this lets the stable
# toolchain, the only one the project's machines have, accept them.
export RUSTC_BOOTSTRAP=1
# Cargo caches rustc's answers without regard to RUSTC_BOOTSTRAP: one `cargo fuzz` run
# without it leaves a cached "-Z is only accepted on nightly" that fails every later build.
rm -f fuzz/target/.rustc_info.json

work=fuzz/work
rm -rf "$work/seeds"
# The seeds, from the real inputs named in fuzz/check/src/seeds.rs.
cargo run --quiet --locked -p lifesign-fuzz-check --example seed -- "$work/seeds"
# One build for all targets, before the clock of any starts.
cargo fuzz build

fuzz_one() {
    local t="$1" dir="$work/$1"
    rm -rf "$dir"
    mkdir -p "$dir/corpus" fuzz/corpus/"$t"
    cp fuzz/corpus/"$t"/* "$dir/corpus/" 2>/dev/null || true
    cp "$work/seeds/$t"/* "$dir/corpus/"
    local rc=0 dict=()
    # A target's dictionary (its format's keywords), if it has one.
    [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="fuzz/dicts/$t.dict")
    cargo fuzz run "$t" "$dir/corpus" -- -max_total_time="$time_each" -print_final_stats=1 \
        "${dict[@]}" >"$dir/log" 2>&1 || rc=$?
    echo "$rc" >"$dir/rc"
    if [ "$rc" -eq 0 ]; then
        # Minimised on edges alone (not libFuzzer's hit-count features): a fifth of the
        # files for the same coverage, so the kept corpus stays small.
        cargo fuzz cmin "$t" "$dir/corpus" -- -use_counters=0 >"$dir/cmin.log" 2>&1
    fi
}

running=0
for t in "${targets[@]}"; do
    echo "fuzzing $t for ${time_each}s"
    fuzz_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
printf '\n%-16s %12s %6s %7s %8s %8s  %s\n' target runs cov ft before after "cov last grew"
for t in "${targets[@]}"; do
    dir="$work/$t"
    before=$(find fuzz/corpus/"$t" -type f | wc -l)
    if [ "$(cat "$dir/rc")" -ne 0 ]; then
        failed=1
        printf '%-16s CRASHED: see %s and fuzz/artifacts/%s/\n' "$t" "$dir/log" "$t"
        continue
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$dir/log")
    done_line=$(grep -E '[[:space:]]DONE[[:space:]]' "$dir/log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
    # The run at which the edge coverage (cov) last grew: well before the last run, the
    # target had stopped finding new code.
    last_new=$(awk '/^#[0-9]+/ && / cov: / {
        for (i = 1; i <= NF; i++) if ($i == "cov:") c = $(i + 1)
        if (c != last) { at = substr($1, 2); last = c } } END { print at }' "$dir/log")
    after=$(find "$dir/corpus" -type f | wc -l)
    if [ "$update" -eq 1 ]; then
        rm -rf fuzz/corpus/"$t"
        cp -r "$dir/corpus" fuzz/corpus/"$t"
    fi
    printf '%-16s %12s %6s %7s %8s %8s  at run %s\n' \
        "$t" "$execs" "$cov" "$ft" "$before" "$after" "${last_new:-?}"
done
[ "$update" -eq 1 ] && echo "fuzz/corpus/ updated (minimised); commit it with any regression input."
exit "$failed"
