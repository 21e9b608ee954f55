# tests/ci/lib.sh - shared by tests/ci/{asan,tsan,valgrind}.sh (sourced; bash).
#
#   ci_init NAME SRCDIR BUILDDIR [TIMEOUT_S]
#       Checks the arguments, makes both paths absolute (CI_SRC, CI_BUILD),
#       re-executes the calling script under `timeout` (the whole pass,
#       build included, is bounded: $AZR_CI_TIMEOUT or TIMEOUT_S seconds),
#       and makes CI_SRC usable for an out-of-tree build: a source tree that
#       was configured in place (as `./configure && make` leaves it) cannot
#       host VPATH builds, so it is copied into BUILDDIR/src and distcleaned
#       there. The original tree is never modified.
#   ci_configure FLAGS...   runs SRCDIR/configure in BUILDDIR with FLAGS,
#                           plus --with-valkey-server=$AZR_VALKEY_SERVER when
#                           that names an executable (a server built by an
#                           earlier make check; otherwise this pass's make
#                           check builds its own, tests/valkey.am)
#   ci_make ARGS...         make -j$CI_JOBS ARGS in BUILDDIR
#   ci_print_var VAR        prints the value of a variable of the generated
#                           Makefile (e.g. check_PROGRAMS), words one a line
#   ci_unit_suites          the Check unit suites: check_PROGRAMS named
#                           tests/check_*, without $(EXEEXT)
#   ci_elapsed              seconds since ci_init, as "Ns"
#   ci_done                 prints the elapsed time; returns the status
#
# Everything logs with the pass name as a prefix. No function here touches
# anything outside SRCDIR (read only) and BUILDDIR.

CI_JOBS=${AZR_CI_JOBS:-2}

ci_log() {
    printf '%s: %s\n' "$CI_NAME" "$*" >&2
}

ci_die() {
    ci_log "ERROR: $*"
    exit 2
}

ci_init() {
    CI_NAME=$1
    if [ $# -lt 3 ] || [ -z "$2" ] || [ -z "$3" ]; then
        echo "usage: $CI_NAME.sh SRCDIR BUILDDIR" >&2
        exit 2
    fi
    local limit=${AZR_CI_TIMEOUT:-${4:-900}}
    if [ -z "${AZR_CI_UNDER_TIMEOUT:-}" ]; then
        # Bound the whole pass. timeout(1) signals its whole process group
        # (make, the tests and the servers they started), then kills it.
        export AZR_CI_UNDER_TIMEOUT=1
        local rc=0
        timeout --kill-after=30 "$limit" bash "$CI_SCRIPT" "$2" "$3" || rc=$?
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "$CI_NAME: ERROR: the pass exceeded its time limit of" \
                 "${limit}s (AZR_CI_TIMEOUT)" >&2
            exit 1
        fi
        exit "$rc"
    fi
    [ -f "$2/configure" ] ||
        ci_die "$2/configure not found (run ./autogen.sh in the source tree first)"
    mkdir -p "$3" || ci_die "cannot create $3"
    CI_SRC=$(cd "$2" && pwd -P)
    CI_BUILD=$(cd "$3" && pwd -P)
    [ "$CI_SRC" != "$CI_BUILD" ] || ci_die "BUILDDIR must differ from SRCDIR"
    # BUILDDIR may lie inside SRCDIR (e.g. SRCDIR/build-asan); the copy
    # below leaves it out, and every other build tree found there.
    # tests/valkey-src: the Valkey build of an in-place make check (large,
    # and removed by the distclean below anyway).
    local -a skip=(--exclude=./.git --exclude=./tests/valkey-src)
    case $CI_BUILD/ in
    "$CI_SRC"/*) skip+=(--exclude="./${CI_BUILD#"$CI_SRC"/}") ;;
    esac
    local d
    for d in "$CI_SRC"/*/; do
        [ -f "$d/config.status" ] && skip+=(--exclude="./$(basename "$d")")
    done
    CI_START=$(date +%s)
    if [ -f "$CI_SRC/config.status" ]; then
        ci_log "$CI_SRC is configured in place; building from a distcleaned copy"
        rm -rf "$CI_BUILD/src"
        mkdir -p "$CI_BUILD/src" &&
            (cd "$CI_SRC" && tar "${skip[@]}" -cf - .) |
            (cd "$CI_BUILD/src" && tar -xf -) ||
            ci_die "cannot copy $CI_SRC"
        (cd "$CI_BUILD/src" && make -s distclean >/dev/null 2>&1) ||
            ci_die "make distclean failed in the copy of $CI_SRC"
        CI_SRC=$CI_BUILD/src
        CI_BUILD=$CI_BUILD/build
        mkdir -p "$CI_BUILD"
    fi
    ci_log "source $CI_SRC, build $CI_BUILD, limit ${limit}s"
}

ci_configure() {
    if [ -n "${AZR_VALKEY_SERVER:-}" ] && [ -x "$AZR_VALKEY_SERVER" ]; then
        set -- "$@" --with-valkey-server="$AZR_VALKEY_SERVER"
    fi
    ci_log "configure $*"
    (cd "$CI_BUILD" && "$CI_SRC/configure" -q "$@") ||
        ci_die "configure failed (see $CI_BUILD/config.log)"
}

ci_make() {
    make -C "$CI_BUILD" -j"$CI_JOBS" "$@"
}

ci_print_var() {
    printf 'ci-print-var:\n\t@echo $(%s)\n' "$1" |
        make -s -C "$CI_BUILD" -f Makefile -f - ci-print-var | tr ' ' '\n' |
        sed '/^$/d'
}

ci_unit_suites() {
    ci_print_var check_PROGRAMS | sed 's/\$(EXEEXT)$//' |
        grep '^tests/check_' || true
}

ci_elapsed() {
    echo "$(( $(date +%s) - CI_START ))s"
}

ci_done() {
    local rc=$1
    local secs=$(( $(date +%s) - CI_START ))
    if [ "$rc" -eq 0 ]; then
        ci_log "PASS (${secs}s)"
    else
        ci_log "FAIL (${secs}s)"
    fi
    return "$rc"
}
