#!/usr/bin/env bash
# tests/ci/tsan.sh SRCDIR BUILDDIR - the multi-threaded tests under
# ThreadSanitizer.
#
# Builds SRCDIR out of tree in BUILDDIR with -fsanitize=thread (library,
# plugins, CLI and tests alike), then runs every Check unit suite that
# starts threads:
#   - a suite whose source (tests/check_NAME.c) calls pthread_create is a
#     thread suite; it is found by that, so new suites join by themselves;
#   - TSAN_CASES below narrows a suite to the test cases that hold its
#     threaded tests (CK_RUN_CASE); a suite not listed there runs whole, as
#     does one whose source no longer names the case ("NAME" in quotes);
#   - a suite that is not itself in TESTS (it needs servers a shell test
#     starts, e.g. check_transport under tests/transport_api.sh) runs
#     through the shell test(s) in TESTS that name it.
# Each run must report at least one check, so a renamed test case cannot
# make the pass silently run nothing. Then tests/topology_stress.sh runs
# (azr_exec on 8 threads against a real group during refreshes and
# reloads).
#
# Reports go to BUILDDIR/sanitizer-logs/tsan.PID (TSAN_OPTIONS log_path);
# any such file fails the pass, whatever the tests themselves concluded.
#
# Exit status: 0 clean, 1 a test failed or a report was written (or the
# time limit, AZR_CI_TIMEOUT, default 600 s, passed), 2 usage or build
# error.
set -uo pipefail
CI_SCRIPT=${BASH_SOURCE[0]}
. "$(dirname "$CI_SCRIPT")/lib.sh"
ci_init tsan "${1:-}" "${2:-}" 600

# suite:case - the test case of each suite that holds its threaded tests.
TSAN_CASES="check_core:threads check_metadata:cache check_topology:threads"

CFLAGS="-fsanitize=thread -fno-omit-frame-pointer -g -O1"
LDFLAGS="-fsanitize=thread"
ci_configure CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS"
# Everything make check would build (plugins, helpers, test programs).
ci_make all >"$CI_BUILD/ci-build.log" 2>&1 &&
    ci_make check TESTS= >>"$CI_BUILD/ci-build.log" 2>&1 ||
    { tail -n 40 "$CI_BUILD/ci-build.log"; ci_die "build failed"; }
ci_log "built ($(ci_elapsed))"

logs=$CI_BUILD/sanitizer-logs
rm -rf "$logs"
mkdir -p "$logs"
# Plugins stay mapped so that reports in them are symbolised.
export AZR_NO_DLCLOSE=1
# die_after_fork=0: check_metadata forks while a fetch is in flight on
# purpose (its child must not deadlock); TSan's default would kill the
# child for starting work after a multi-threaded fork.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:\
die_after_fork=0:exitcode=66:log_path=$logs/tsan"
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-5}

tests_list=$(ci_print_var TESTS)
rc=0
n_runs=0

# run_tests NAME CASE TEST...: make check TESTS="TEST..." with CK_RUN_CASE.
run_tests() {
    local name=$1 case=$2
    shift 2
    local log=$CI_BUILD/ci-check-$name.log
    ci_log "$name: make check TESTS=\"$*\"${case:+ CK_RUN_CASE=$case}"
    local t0=$(date +%s)
    # An empty CK_RUN_CASE selects no test case at all: unset it instead.
    if ! (if [ -n "$case" ]; then export CK_RUN_CASE=$case
          else unset CK_RUN_CASE; fi
          ci_make check TESTS="$*") >"$log" 2>&1; then
        rc=1
        ci_log "$name: FAILED"
        for t in "$@"; do
            tail -n 60 "$CI_BUILD/${t%.sh}.log" >&2 2>/dev/null
        done
    fi
    # Check prints "NN%: Checks: N, ..." per suite run.
    local checks
    checks=$(for t in "$@"; do cat "$CI_BUILD/${t%.sh}.log"; done 2>/dev/null |
             sed -n 's/.*%: Checks: \([0-9]*\).*/\1/p' |
             awk '{ s += $1 } END { print s + 0 }')
    if [ "$checks" -eq 0 ]; then
        rc=1
        ci_log "$name: ran no check (test case '${case}' renamed?)"
    fi
    ci_log "$name: $checks checks, $(( $(date +%s) - t0 ))s"
    n_runs=$((n_runs + 1))
}

for suite in $(ci_unit_suites); do
    name=${suite#tests/}
    grep -q 'pthread_create' "$CI_SRC/$suite.c" 2>/dev/null || continue
    case=
    for pair in $TSAN_CASES; do
        [ "${pair%%:*}" = "$name" ] && case=${pair#*:}
    done
    if [ -n "$case" ] &&
       ! grep -q "\"$case\"" "$CI_SRC/$suite.c"; then
        ci_log "$name: no test case '$case' (update TSAN_CASES); running it whole"
        case=
    fi
    if printf '%s\n' $tests_list | grep -qx "$suite"; then
        run_tests "$name" "$case" "$suite"
    else
        # Run through the shell tests that start it.
        scripts=
        for t in $tests_list; do
            case $t in *.sh) ;; *) continue ;; esac
            grep -q "tests/$name\b" "$CI_SRC/$t" 2>/dev/null &&
                scripts="$scripts $t"
        done
        if [ -z "$scripts" ]; then
            ci_log "$name: in no test of TESTS; skipped"
            continue
        fi
        # shellcheck disable=SC2086
        run_tests "$name" "$case" $scripts
    fi
done
[ "$n_runs" -gt 0 ] || { rc=1; ci_log "found no threaded suite"; }

# Live topology under load: 8 threads run azr_exec against a real TLS group
# while the main thread refreshes and reloads in a loop. A shell test (no
# Check lines), so it runs on its own; its reports land in $logs as well.
ci_log "topology_stress: make check TESTS=tests/topology_stress.sh"
if ! ci_make check TESTS=tests/topology_stress.sh \
        >"$CI_BUILD/ci-check-topology_stress.log" 2>&1; then
    rc=1
    ci_log "topology_stress: FAILED"
    tail -n 60 "$CI_BUILD/tests/topology_stress.log" >&2 2>/dev/null
fi

reports=$(find "$logs" -type f -size +0 | sort)
if [ -n "$reports" ]; then
    rc=1
    for f in $reports; do
        ci_log "---- report $f"
        cat "$f" >&2
    done
    ci_log "$(echo "$reports" | wc -l) sanitizer report(s)"
fi
ci_done "$rc"
