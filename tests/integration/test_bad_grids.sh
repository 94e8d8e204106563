#!/usr/bin/env bash
# Every bad grid in tests/fixtures/bad_grids gets its clear error (FILE:LINE: message, as its
# "# expect:" line says), exit status 2, and nothing is run or written -- through expand,
# run, and run under mpirun.
source "$(dirname "$0")/lib.sh"
n=0
for grid in "$HS_SOURCE_DIR"/tests/fixtures/bad_grids/*.cfg; do
    expect=$(sed -n '1s/^# expect: //p' "$grid")
    line=${expect%%: *}
    msg=${expect#*: }
    name=$(basename "$grid")
    cp "$grid" "$T/$name"
    [[ $line == 0 ]] && want="$name: $msg" || want="$name:$line: $msg"
    for how in expand run mpirun; do
        mkdir -p "$T/w" && cd "$T/w"
        case $how in
        expand) expect_exit 2 "$HS" expand "../$name" ;;
        run) expect_exit 2 "$HS" run "../$name" ;;
        mpirun) expect_exit 2 hs_mpi 2 run "../$name" ;;
        esac
        grep -qF -- "$want" "$T/last.err" || fail "$how $name: expected '$want', got: $(head -3 "$T/last.err")"
        leftovers=$(ls -A)
        [[ -z $leftovers ]] || fail "$how $name left files behind: $leftovers"
        cd "$T" && rm -rf "$T/w"
    done
    n=$((n + 1))
done
note "$n bad grids: each refused with its message and line, exit 2, nothing written"
echo PASS
