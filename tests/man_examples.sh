#!/bin/sh
# man_examples.sh - every example of the manual works as shown.
#
# An example is an .EX/.EE block of a page (man/*.[1-9] in the source tree
# and the pages the build makes from man/*.in), marked on the line right
# before its .EX with
#
#     .\" example: KIND [ARGUMENT...]
#
# Every .EX block must carry a marker (a block that is not an example says
# so with `skip REASON'), so that an example added without one fails here
# rather than going unchecked. The kinds, and what is done with each:
#
#   c-program FILE      a complete program, saved as FILE in the work
#                       directory and compiled (-std=c11 -Wall -Wextra
#                       -Werror) against the build tree's headers and
#                       libazroute.so; the page's sh examples run it.
#   c-plugin FILE       a complete policy, saved as FILE, built as the page
#                       says (-fPIC -fvisibility=hidden -shared), checked to
#                       export nothing but azr_plugin_descriptor, then
#                       loaded by absolute path at the end of the default
#                       chain by `azroute check' and `azroute plugins'.
#   c-fragment [OPT...] statements, wrapped in a function (leading
#                       paragraphs that start with `static' go to file
#                       scope) and compiled like a program, with stubs for
#                       the reader's own code it calls (now_ns(),
#                       my_client_get(), send_request_to(), key). OPTs:
#                       ctx (an open azr_ctx *ctx, from config=NAME, default
#                       tokyo.ini, the example of azroute.ini(5)), conn (an
#                       azr_conn *c for a write), fd (int fd on a file
#                       holding a RESP stream), server (needs a Valkey/Redis
#                       server), config-path=LITERAL (the string literal
#                       the example opens stands for the configuration),
#                       expect=WORD (a line of its output is WORD). Run;
#                       with `server' and no redis-server, compiled only.
#   ini FILE [server]   a complete azroute.ini, saved as FILE and parsed by
#                       `azroute -c FILE check'; with `server' the copy the
#                       other examples use points at the local server.
#   ini-fragment [FILE] some sections of an azroute.ini: parsed with one
#                       [node] section appended.
#   env VAR with=FILE   a shell assignment of a nodes_env variable: set as
#                       written and parsed with `nodes_env = VAR' and the
#                       ini-fragment FILE.
#   message TRIGGER...  configuration error messages, one per line, as
#                       "PATH:LINE: text"; TRIGGER TYPE:NAME:KEY=VALUE puts
#                       `KEY = VALUE' on line LINE of section [TYPE NAME] of
#                       a file that is otherwise valid, and `azroute check'
#                       must print exactly that message.
#   sh [server] [expect-comments]
#                       shell commands, run in order, the blocks of a page
#                       in one shell, in the work directory. In a block of
#                       `$ command' lines, the lines after a command are
#                       its expected output; with expect-comments, the
#                       text after `  # ' is the expected output. They run
#                       against a copy of this build installed into a
#                       temporary DESTDIR: pkg-config answers for it
#                       (PKG_CONFIG_SYSROOT_DIR), absolute paths under the
#                       configured directories are taken inside it, `sudo'
#                       runs the command as is but refuses any absolute
#                       path outside the test's directory. With `server'
#                       and no redis-server, not run.
#   output CMD...       sample output of an azroute command: CMD is run
#                       against the local server with the page's `ini'
#                       example; text must match line by line with every
#                       number read as N, JSON must have the same keys.
#   decl HEADER         declarations that must appear, comments and
#                       spacing aside, in include/azroute/HEADER.
#   file PATH           every line must be a line of PATH (source tree).
#   skip REASON         not checked (pseudo-code, or checked elsewhere).
#
# Nothing touches the network: AWS_EC2_METADATA_DISABLED=true, no other
# metadata variable, AZROUTE_AZ_ID set where the output does not depend on
# it, and every configuration a command connects with points at one
# redis-server this test starts on 127.0.0.1 (host and port rewritten,
# tls = no, no AUTH); the rewritten copy is checked to name no other host.
#
# Fails when a marked example fails, a marker or an .EX block lacks its
# partner, or no example at all was found.
set -u

: "${AZR_TEST_SRCDIR:?run through make check}"
: "${AZR_TEST_BUILDDIR:?run through make check}"
: "${AZROUTE_BIN:?run through make check}"
src=$AZR_TEST_SRCDIR
build=$AZR_TEST_BUILDDIR

for tool in cc make nm awk; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "SKIP: $tool not found (tools/install-deps.sh installs it)"; exit 77; }
done
real_pkg_config=$(command -v pkg-config 2>/dev/null) ||
    { echo "SKIP: pkg-config not found"; exit 77; }
real_cc=$(command -v cc)
lib=$build/lib/.libs/libazroute.so
[ -f "$lib" ] || { echo "FAIL: $lib not built" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azr-manex.XXXXXX") || exit 99
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        i=0
        while kill -0 "$server_pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1; i=$((i + 1))
        done
        kill -9 "$server_pid" 2>/dev/null
    fi
    chmod -R u+w "$tmp" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The sub-makes must not join make check's jobserver.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES || :
unset AWS_LAMBDA_METADATA_API AWS_LAMBDA_METADATA_TOKEN \
      ECS_CONTAINER_METADATA_URI_V4 AWS_EC2_METADATA_SERVICE_ENDPOINT \
      AZROUTE_CONFIG AZROUTE_AZ_ID || :
AWS_EC2_METADATA_DISABLED=true
export AWS_EC2_METADATA_DISABLED

work=$tmp/work
ex=$tmp/ex
logs=$tmp/logs
mkdir -p "$work" "$ex" "$logs" "$tmp/bin"

n_ok=0 n_fail=0 n_partial=0 n_skip=0
ok() { n_ok=$((n_ok + 1)); echo "ok:      $*"; }
partial() { n_partial=$((n_partial + 1)); echo "partial: $*"; }
skipped() { n_skip=$((n_skip + 1)); echo "skip:    $*"; }
failed() {
    n_fail=$((n_fail + 1))
    echo "FAIL:    $1" >&2
    shift
    for f in "$@"; do
        [ -s "$f" ] && sed 's/^/    | /' "$f" | tail -n 40 >&2
    done
}

# ---- 1. Extraction ----------------------------------------------------
#
# manifest: one line per block, "ID<TAB>PAGE:LINE<TAB>KIND ARGS"; the
# block's text, roff escapes undone, is $ex/ID.

pages=
for p in "$src"/man/*.[1-9]; do
    # (in a build in the source tree, the pages built from templates are
    # there too: they are taken below)
    [ -f "$p" ] && [ ! -L "$p" ] && [ ! -e "$p.in" ] && pages="$pages $p"
done
for t in "$src"/man/*.in; do
    [ -e "$t" ] || continue
    p=$build/man/$(basename "$t" .in)
    [ -f "$p" ] || { echo "FAIL: $p was not built" >&2; exit 1; }
    pages="$pages $p"
done

# shellcheck disable=SC2086
awk -v ex="$ex" '
    function unroff(s) {
        gsub(/\\e/, "\001", s)
        gsub(/\\-/, "-", s)
        gsub(/\\\(dq/, "\"", s)
        gsub(/\\\(aq/, "\047", s)
        gsub(/\\\(ti/, "~", s)
        gsub(/\\\(ha/, "^", s)
        gsub(/\\\(rs/, "\001", s)
        gsub(/\\\(mu/, "x", s)
        gsub(/\\&/, "", s)
        gsub(/\\%/, "", s)
        gsub(/\\f[BIRP]/, "", s)
        gsub(/\\ /, " ", s)
        gsub(/\001/, "\\", s)
        return s
    }
    FNR == 1 { page = FILENAME; sub(/.*\//, "", page); marker = ""; inex = 0 }
    /^\.\\" example:/ {
        if (marker != "")
            printf "ERR\t%s:%d\tmarker not followed by .EX\n", page, mline
        marker = $0; sub(/^\.\\" example: */, "", marker); mline = FNR
        next
    }
    /^\.EX/ {
        n++
        out = ex "/" n
        printf "" > out
        if (marker == "")
            printf "%d\t%s:%d\tUNMARKED\n", n, page, FNR
        else
            printf "%d\t%s:%d\t%s\n", n, page, FNR, unroff(marker)
        marker = ""; inex = 1
        next
    }
    /^\.EE/ { if (inex) close(out); inex = 0; next }
    inex { print unroff($0) > out; next }
    marker != "" {
        printf "ERR\t%s:%d\tmarker not followed by .EX\n", page, mline
        marker = ""
    }
' $pages >"$tmp/manifest" || { echo "FAIL: extraction" >&2; exit 1; }

while IFS='	' read -r id where what; do
    case $id:$what in
    ERR:*) failed "$where: $what" ;;
    *:UNMARKED) failed "$where: .EX block without a '.\\\" example: KIND' marker" ;;
    esac
done <"$tmp/manifest"
n_examples=$(grep -cv '^ERR' "$tmp/manifest")
echo "found $n_examples blocks in $(echo $pages | wc -w) pages"

# Examples by kind, in page order: "ID<TAB>WHERE<TAB>ARGS".
by_kind() {
    awk -F '\t' -v k="$1" '$1 != "ERR" {
        split($3, w, " ")
        if (w[1] == k) { a = $3; sub(/^[^ ]+ */, "", a); print $1 "\t" $2 "\t" a }
    }' "$tmp/manifest"
}
# opt NAME ARGS: the value of NAME=VALUE in ARGS, or "yes" for a bare NAME.
opt() {
    for o in $2; do
        case $o in
        "$1") echo yes; return ;;
        "$1"=*) echo "${o#*=}"; return ;;
        esac
    done
    echo ""
}

# Files the other examples use are saved first.
for kind in c-program c-plugin ini ini-fragment; do
    by_kind "$kind" >"$tmp/list"
    while IFS='	' read -r id where args <&3; do
        set -- $args
        [ $# -ge 1 ] || continue
        case $1 in *=*|server) continue ;; esac
        cp "$ex/$id" "$work/$1"
    done 3<"$tmp/list"
done

# ---- 2. The sandbox: an installed copy, a local server, shims ---------

dirs=$(printf '%s\n' 'azr-print-dirs:' \
    '	@echo "$(prefix)|$(sysconfdir)|$(libdir)|$(plugindir)|$(includedir)|$(pkgconfigdir)|$(aclocaldir)|$(docdir)|$(bindir)"' |
    make -s -C "$build" -f Makefile -f - azr-print-dirs 2>/dev/null) ||
    { echo "FAIL: cannot read the configured directories" >&2; exit 1; }
IFS='|' read -r d_prefix d_sysconfdir d_libdir d_plugindir d_includedir \
    d_pkgconfigdir d_aclocaldir d_docdir d_bindir <<EOF
$dirs
EOF
root=$tmp/root
echo "installing into $root ($d_prefix)"
if ! make -C "$build" install DESTDIR="$root" >"$logs/install" 2>&1; then
    failed "make install DESTDIR=$root" "$logs/install"
    exit 1
fi
sandbox_plugindir=$root$d_plugindir

# The sanitizers the library was built with, for the programs linked
# against it (an uninstrumented program cannot load an ASan library).
san=
for s in asan:address ubsan:undefined tsan:thread; do
    ldd "$lib" 2>/dev/null | grep -q "lib${s%%:*}" && san="$san,${s#*:}"
done
[ -n "$san" ] && san="-fsanitize=${san#,}" && echo "library built with $san"

cat >"$tmp/bin/azroute" <<EOF
#!/bin/sh
exec "$AZROUTE_BIN" "\$@"
EOF
cat >"$tmp/bin/pkg-config" <<EOF
#!/bin/sh
PKG_CONFIG_PATH="$root$d_pkgconfigdir\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}"
PKG_CONFIG_SYSROOT_DIR="$root"
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
exec "$real_pkg_config" "\$@"
EOF
cat >"$tmp/bin/sudo" <<EOF
#!/bin/sh
# Runs the command as it is, never writing outside $tmp.
for a; do
    case \$a in
    /*) case \$a in "$tmp"/*) ;; *)
            echo "sudo (test shim): refusing \$a, outside the sandbox" >&2
            exit 1 ;;
        esac ;;
    esac
done
exec "\$@"
EOF
cat >"$tmp/bin/cc" <<EOF
#!/bin/sh
exec "$real_cc" $san "\$@"
EOF
chmod +x "$tmp/bin/"*

# One local redis-server, plain TCP, no persistence; every node of a
# configuration that connects is pointed at it.
port=
redis=${REDIS_SERVER:-}
[ -n "$redis" ] || redis=$(command -v redis-server 2>/dev/null || :)
cat >"$tmp/ping.ini" <<EOF
[azroute]
transport = resp_tls
[node ping]
host = 127.0.0.1
port = PORT
az_id = use1-az1
role = primary
[transport resp_tls]
tls = no
connect_timeout_ms = 200
EOF
if [ -n "$redis" ] && [ -x "$redis" ]; then
    try=0
    while [ $try -lt 5 ] && [ -z "$port" ]; do
        try=$((try + 1))
        p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000 ))
        "$redis" --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$tmp" >"$logs/redis.$try" 2>&1 &
        server_pid=$!
        sed "s/PORT/$p/" "$tmp/ping.ini" >"$tmp/ping.$p.ini"
        i=0
        while [ $i -lt 50 ] && kill -0 "$server_pid" 2>/dev/null; do
            if AZROUTE_PLUGIN_DIR=$build/plugins/.libs "$AZROUTE_BIN" \
                   -c "$tmp/ping.$p.ini" exec PING >/dev/null 2>&1; then
                port=$p
                break
            fi
            sleep 0.1; i=$((i + 1))
        done
        if [ -z "$port" ]; then
            kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null
            server_pid=
        fi
    done
    [ -n "$port" ] && echo "redis-server on 127.0.0.1:$port" ||
        echo "redis-server did not start: examples that need one are compiled only"
else
    echo "no redis-server: examples that need one are compiled only"
fi

# localize FILE: FILE.local, every node at the local server.
localize() {
    awk -v port="$port" '
        /^[ \t]*\[/ { sec = $0; gsub(/[][ \t]/, "", sec) }
        /^[ \t]*host[ \t]*[=:]/ { print "host = 127.0.0.1"; next }
        /^[ \t]*port[ \t]*[=:]/ { print "port = " port; next }
        sec ~ /^transport/ && /^[ \t]*(tls|password_env|username)[ \t]*[=:]/ { next }
        { print }
        /^[ \t]*\[transport[ \t]/ { print "tls = no" }
    ' "$1" >"$1.local" &&
    ! grep -E '^[[:space:]]*host[[:space:]]*[=:]' "$1.local" |
        grep -vqE '=[[:space:]]*127\.0\.0\.1[[:space:]]*$'
}
if [ -n "$port" ]; then
    for f in "$work"/*.ini; do
        [ -e "$f" ] || continue
        localize "$f" || { echo "FAIL: $f names a host other than 127.0.0.1 after localizing" >&2; exit 1; }
    done
    # The key the examples read back.
    sed "s/PORT/$port/" "$tmp/ping.ini" >"$tmp/seed.ini"
    AZROUTE_PLUGIN_DIR=$build/plugins/.libs "$AZROUTE_BIN" -c "$tmp/seed.ini" \
        exec --write SET greeting hello >/dev/null 2>&1 ||
        echo "warning: could not seed the key 'greeting'"
fi
# Servers a configuration uses in the sh examples: the localized copy
# replaces the file (the original is kept as FILE.orig for `ini').
use_local_configs() {
    for f in "$work"/*.ini.local; do
        [ -e "$f" ] || continue
        base=${f%.local}
        [ -e "$base.orig" ] || cp "$base" "$base.orig"
        cp "$f" "$base"
    done
}

CFLAGS_EX="-std=c11 -Wall -Wextra -Werror -g"
compile_program() { # OUT SOURCE
    "$real_cc" $CFLAGS_EX $san -I"$src/include" -o "$1" "$2" \
        -L"$build/lib/.libs" -lazroute -Wl,-rpath,"$build/lib/.libs"
}

# ---- 3. Programs and plugins ------------------------------------------

by_kind c-program >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    set -- $args
    name=$1
    if compile_program "$work/${name%.c}" "$work/$name" >"$logs/$id" 2>&1; then
        ok "$where c-program $name (compiled and linked; run by the sh examples)"
    else
        failed "$where c-program $name does not compile" "$logs/$id"
    fi
done 3<"$tmp/list"

by_kind c-plugin >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    set -- $args
    name=$1 so=$work/${1%.c}.so
    if ! "$real_cc" $CFLAGS_EX -fPIC -fvisibility=hidden -shared \
            -I"$src/include" -o "$so" "$work/$name" >"$logs/$id" 2>&1; then
        failed "$where c-plugin $name does not compile" "$logs/$id"
        continue
    fi
    syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[A-Z]$/ && $2 != "A" { print $3 }')
    if [ "$syms" != azr_plugin_descriptor ]; then
        echo "exports: $syms" >"$logs/$id"
        failed "$where c-plugin $name exports more than its descriptor" "$logs/$id"
        continue
    fi
    printf '[azroute]\npolicy = failover, same_az, %s\n\n' "$so" >"$tmp/plugin-$id.ini"
    cat "$work/tokyo.ini" 2>/dev/null | grep -v '^\[azroute\]' |
        grep -v '^policy *=' | grep -v '^transport *=' |
        awk '/^\[transport/ { skip = 1 } /^\[/ && !/^\[transport/ { skip = 0 } !skip' \
        >>"$tmp/plugin-$id.ini"
    grep -q '^\[node' "$tmp/plugin-$id.ini" ||
        printf '[node a]\nhost = 127.0.0.1\nport = 6379\naz_id = use1-az1\nrole = primary\n' \
            >>"$tmp/plugin-$id.ini"
    if AZROUTE_PLUGIN_DIR=$build/plugins/.libs AZROUTE_AZ_ID=apne1-az4 \
           AZROUTE_PASSWORD=example \
           "$AZROUTE_BIN" -c "$tmp/plugin-$id.ini" plugins >"$logs/$id" 2>&1 &&
       grep -q "${name%.c}" "$logs/$id" &&
       AZROUTE_PLUGIN_DIR=$build/plugins/.libs AZROUTE_AZ_ID=apne1-az4 \
           AZROUTE_PASSWORD=example \
           "$AZROUTE_BIN" -c "$tmp/plugin-$id.ini" pick -n 20 >>"$logs/$id" 2>&1; then
        ok "$where c-plugin $name (built, one export, loaded and picking)"
    else
        failed "$where c-plugin $name: azroute plugins/pick with it failed" \
            "$tmp/plugin-$id.ini" "$logs/$id"
    fi
done 3<"$tmp/list"

# ---- 4. Shell commands ------------------------------------------------

# map_paths: absolute paths under the configured directories, inside the
# sandbox (stdin to stdout).
map_paths() {
    awk -v root="$root" -v dirs="$d_prefix|$d_sysconfdir|$d_libdir|$d_plugindir|$d_includedir|$d_pkgconfigdir|$d_aclocaldir|$d_docdir|$d_bindir" '
        BEGIN {
            n = split(dirs, d, "|")
            # longest first
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                if (length(d[j]) > length(d[i])) { t = d[i]; d[i] = d[j]; d[j] = t }
        }
        {
            out = ""; s = $0
            while (s != "") {
                hit = 0
                prev = substr(out, length(out), 1)
                if (out == "" || prev ~ /[ =:"\047(]/)
                    for (i = 1; i <= n; i++) {
                        l = length(d[i])
                        nx = substr(s, l + 1, 1)
                        if (l > 1 && substr(s, 1, l) == d[i] && (nx == "" || nx ~ /[\/ "\047:$)]/)) {
                            out = out root d[i]; s = substr(s, l + 1); hit = 1; break
                        }
                    }
                if (!hit) { out = out substr(s, 1, 1); s = substr(s, 2) }
            }
            print out
        }'
}

# sh_script PAGE: the script running the page's sh blocks, one brace group
# per command, with its output and expected output in $tmp/sh/ID.N.*
mkdir -p "$tmp/sh"
sh_pages=$(by_kind sh | awk -F '\t' '{ split($2, w, ":"); print w[1] }' | awk '!seen[$0]++')
for page in $sh_pages; do
    script=$tmp/sh/$page.sh
    {
        echo 'cd "$AZR_EX_WORK" || exit 99'
    } >"$script"
    runs=0 waived=
    by_kind sh | awk -F '\t' -v p="$page" '{ split($2, w, ":"); if (w[1] == p) print }' >"$tmp/list"
    while IFS='	' read -r id where args <&3; do
        if [ "$(opt server "$args")" = yes ] && [ -z "$port" ]; then
            waived="$waived $where"
            continue
        fi
        comments=$(opt expect-comments "$args")
        # Logical lines: continuation lines joined.
        awk '{ if (sub(/\\$/, "")) { acc = acc $0; next } print acc $0; acc = "" }' \
            "$ex/$id" | map_paths >"$tmp/sh/$id.lines"
        prompt=no
        grep -q '^\$ ' "$tmp/sh/$id.lines" && prompt=yes
        k=0
        while IFS= read -r line; do
            if [ $prompt = yes ]; then
                case $line in
                '$ '*) cmd=${line#\$ } ;;
                *) [ $k -gt 0 ] && printf '%s\n' "$line" >>"$tmp/sh/$id.$k.want"
                   continue ;;
                esac
            else
                case $line in ''|'#'*) continue ;; esac
                cmd=$line
            fi
            k=$((k + 1))
            # A trailing "  # comment" is not part of the command.
            want=$(printf '%s\n' "$cmd" | sed -n 's/^.*[[:space:]]#[[:space:]]\(.*\)$/\1/p')
            cmd=$(printf '%s\n' "$cmd" | sed 's/[[:space:]]\{1,\}#[[:space:]].*$//; s/[[:space:]]\{1,\}#$//')
            [ "$comments" = yes ] && [ -n "$want" ] &&
                printf '%s\n' "$want" >"$tmp/sh/$id.$k.want"
            printf '%s\n' "$where: $cmd" >"$tmp/sh/$id.$k.cmd"
            {
                printf 'echo "+ %s" >&2\n' "$id.$k"
                printf 'if ! { %s\n} >"$AZR_EX_SH/%s.%s.out" 2>"$AZR_EX_SH/%s.%s.err"; then\n' \
                    "$cmd" "$id" "$k" "$id" "$k"
                printf '    echo "failed: %s" >"$AZR_EX_SH/%s.%s.failed"; exit 1\nfi\n' \
                    "$id.$k" "$id" "$k"
            } >>"$script"
        done <"$tmp/sh/$id.lines"
        echo "$id	$where	$k" >>"$tmp/sh/$page.ids"
    done 3<"$tmp/list"
    for w in $waived; do
        partial "$w sh (needs a redis-server: not run)"
    done
    [ -s "$tmp/sh/$page.ids" ] || continue
    use_local_configs
    (
        PATH=$tmp/bin:$PATH
        AZROUTE_PLUGIN_DIR=$sandbox_plugindir
        AZR_EX_WORK=$work AZR_EX_SH=$tmp/sh
        export PATH AZROUTE_PLUGIN_DIR AZR_EX_WORK AZR_EX_SH
        timeout 300 sh "$script"
    ) >"$logs/sh-$page" 2>&1
    while IFS='	' read -r id where n; do
        k=1 bad=
        while [ $k -le "$n" ]; do
            base=$tmp/sh/$id.$k
            if [ -e "$base.failed" ] || [ ! -e "$base.out" ]; then
                [ -e "$base.out" ] && bad="$(cat "$base.cmd") failed" ||
                    bad="not reached (an earlier command failed)"
                break
            fi
            if [ -e "$base.want" ]; then
                norm() { sed "s|$root||g" "$1" | tr -s ' \t' '  ' | sed 's/^ //; s/ $//'; }
                if [ "$(norm "$base.want")" != "$(norm "$base.out")" ]; then
                    bad="$(cat "$base.cmd"): printed '$(norm "$base.out")', the page shows '$(norm "$base.want")'"
                    break
                fi
            fi
            k=$((k + 1))
        done
        if [ -z "$bad" ]; then
            ok "$where sh ($n command(s) run)"
        else
            failed "$where sh: $bad" "$base.out" "$base.err"
        fi
    done <"$tmp/sh/$page.ids"
done

# ---- 5. Configuration files -------------------------------------------

# plugin_dir_for FILE: the build's plugins, or the sandbox's plugin
# directory when the chain names a plugin the build does not have (one
# the sh examples built and installed, as the pages tell).
plugin_dir_for() {
    chain=$(sed -n 's/^[[:space:]]*policy[[:space:]]*[=:]//p' "$1" | tr ',' ' ')
    for p in $chain; do
        case $p in
        /*) ;;
        *) [ -e "$build/plugins/.libs/$p.so" ] || { echo "$sandbox_plugindir"; return; } ;;
        esac
    done
    echo "$build/plugins/.libs"
}
check_ini() { # WHERE WHAT FILE LOG
    pdir=$(plugin_dir_for "$3")
    if AZROUTE_PLUGIN_DIR=$pdir AZROUTE_AZ_ID=use1-az1 AZROUTE_PASSWORD=example \
           timeout 60 "$AZROUTE_BIN" -c "$3" check >"$4" 2>&1; then
        ok "$1 $2 (azroute check)"
    else
        failed "$1 $2: azroute -c FILE check failed" "$4"
    fi
}

by_kind ini >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    set -- $args
    f=$work/$1
    [ -e "$f.orig" ] && f=$f.orig
    check_ini "$where" "ini $1" "$f" "$logs/$id"
done 3<"$tmp/list"

by_kind ini-fragment >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    f=$tmp/fragment-$id.ini
    { cat "$ex/$id"; printf '\n[node fragment-base]\nhost = 127.0.0.1\nport = 6379\naz_id = use1-az1\nrole = primary\n'; } >"$f"
    check_ini "$where" "ini-fragment${args:+ $args}" "$f" "$logs/$id"
done 3<"$tmp/list"

by_kind env >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    set -- $args
    var=$1 with=$(opt with "$args")
    f=$tmp/env-$id.ini
    { printf '[azroute]\nnodes_env = %s\n\n' "$var"; cat "$work/$with"; } >"$f"
    if ( eval "$(cat "$ex/$id")" && export "$var" &&
         AZROUTE_PLUGIN_DIR=$build/plugins/.libs AZROUTE_AZ_ID=use1-az1 \
             timeout 60 "$AZROUTE_BIN" -c "$f" check ) >"$logs/$id" 2>&1; then
        ids=$(sed -n 's/^[^|]*=\(.*\)$/\1/p; s/^[[:space:]]*\([^|=]*\)|.*/\1/p' "$ex/$id" |
              tr -d "'\"" | sed 's/|.*//; s/^[[:space:]]*//' | awk '!seen[$0]++')
        missing=
        for i in $ids; do grep -q "^ *$i " "$logs/$id" || missing="$missing $i"; done
        if [ -z "$missing" ]; then
            ok "$where env $var (azroute check lists the nodes:$(echo " $ids" | tr '\n' ' '))"
        else
            failed "$where env $var: azroute check does not list$missing" "$logs/$id"
        fi
    else
        failed "$where env $var: azroute check failed" "$f" "$logs/$id"
    fi
done 3<"$tmp/list"

by_kind message >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    set -- $args
    k=0 bad=
    while IFS= read -r msg; do
        [ -n "$msg" ] || continue
        k=$((k + 1))
        trig=$(eval "echo \${$k:-}")
        [ -n "$trig" ] || { bad="message $k has no trigger in the marker"; break; }
        line=$(printf '%s\n' "$msg" | sed -n 's/^[^:]*:\([0-9]*\): .*/\1/p')
        text=$(printf '%s\n' "$msg" | sed 's/^[^:]*:[0-9]*: //')
        type=${trig%%:*} rest=${trig#*:}
        name=${rest%%:*} kv=${rest#*:}
        key=${kv%%=*} value=${kv#*=}
        f=$tmp/message-$id-$k.ini
        {
            printf '[node base-1]\nhost = 127.0.0.1\nport = 6379\naz_id = use1-az1\nrole = primary\n'
            i=6
            while [ $i -lt $((line - 1)) ]; do echo "; line $i"; i=$((i + 1)); done
            printf '[%s %s]\n%s = %s\n' "$type" "$name" "$key" "$value"
            if [ "$type" = node ]; then
                for kvn in host=127.0.0.1 port=6380 az_id=use1-az1 role=replica; do
                    [ "${kvn%%=*}" = "$key" ] || printf '%s = %s\n' "${kvn%%=*}" "${kvn#*=}"
                done
            fi
        } >"$f"
        AZROUTE_PLUGIN_DIR=$build/plugins/.libs AZROUTE_AZ_ID=use1-az1 \
            timeout 60 "$AZROUTE_BIN" -c "$f" check >"$logs/$id.$k" 2>&1
        rc=$?
        want="azroute: $f:$line: $text"
        if [ $rc -ne 2 ] || ! grep -qxF "$want" "$logs/$id.$k"; then
            bad="'$msg': azroute check exited $rc and printed '$(cat "$logs/$id.$k")', expected '$want'"
            break
        fi
    done <"$ex/$id"
    if [ -z "$bad" ] && [ $k -gt 0 ]; then
        ok "$where message ($k message(s) reproduced)"
    else
        failed "$where message: ${bad:-no message}"
    fi
done 3<"$tmp/list"

# ---- 6. C fragments ---------------------------------------------------

printf '+OK\r\n$5\r\nhello\r\n:42\r\n*2\r\n$1\r\na\r\n$-1\r\n' >"$tmp/resp-stream"
by_kind c-fragment >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    c=$tmp/fragment-$id.c
    cfgname=$(opt config "$args")
    [ -n "$cfgname" ] || cfgname=tokyo.ini
    cfg=$work/$cfgname
    [ -e "$cfg.orig" ] && cfg=$cfg.orig
    needs_server=$(opt server "$args")
    [ "$needs_server" = yes ] && [ -n "$port" ] && cfg=$work/$cfgname.local
    path_literal=$(opt config-path "$args")
    # Leading paragraphs that start with "static" are file-scope code.
    awk -v top="$tmp/fragment-$id.top" -v body="$tmp/fragment-$id.body" '
        BEGIN { at_top = 1; para = "" }
        /^$/ { if (at_top) { printf "%s\n", para > (para ~ /^static/ ? top : body); if (para !~ /^static/) at_top = 0 }
               else print "" > body
               para = ""; next }
        { if (at_top) para = para $0 "\n"; else print > body }
        END { if (at_top && para != "") printf "%s", para > (para ~ /^static/ ? top : body) }
    ' "$ex/$id"
    touch "$tmp/fragment-$id.top" "$tmp/fragment-$id.body"
    if [ -n "$path_literal" ]; then
        for part in top body; do
            awk -v lit="\"$path_literal\"" -v rep="\"$cfg\"" '
                { while ((i = index($0, lit)) > 0) $0 = substr($0, 1, i - 1) rep substr($0, i + length(lit)); print }
            ' "$tmp/fragment-$id.$part" >"$tmp/fragment-$id.$part.x" &&
                mv "$tmp/fragment-$id.$part.x" "$tmp/fragment-$id.$part"
        done
    fi
    {
        cat <<'EOF'
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <azroute/azroute.h>

/* The reader's own code that the examples call. */
__attribute__((unused)) static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
__attribute__((unused)) static int my_client_get(size_t node, const char *k)
{
    (void)node; (void)k;
    return 1;
}
__attribute__((unused)) static int send_request_to(size_t node)
{
    (void)node;
    return 1;
}
__attribute__((unused)) static const char *key = "greeting";

EOF
        printf '#line 1 "%s (file scope)"\n' "$where"
        cat "$tmp/fragment-$id.top"
        cat <<'EOF'

static int example(azr_ctx *ctx, azr_conn *c, int fd)
{
    char err[AZR_ERRBUF_SIZE] = "";
    (void)ctx; (void)c; (void)fd; (void)err;
    {
EOF
        printf '#line 1 "%s"\n' "$where"
        cat "$tmp/fragment-$id.body"
        cat <<EOF
    }
    return 0;
}

int main(int argc, char **argv)
{
    azr_ctx *ctx = NULL;
    azr_conn *c = NULL;
    int fd = -1;
    char err[AZR_ERRBUF_SIZE];
    (void)argc; (void)argv; (void)err;
#if $( [ "$(opt ctx "$args")" = yes ] && echo 1 || echo 0 )
    if (azr_open(&ctx, argv[1], err) != AZR_OK) {
        fprintf(stderr, "harness: azr_open %s: %s\n", argv[1], err);
        return 99;
    }
#endif
#if $( [ "$(opt conn "$args")" = yes ] && echo 1 || echo 0 )
    if (azr_connect(ctx, AZR_INTENT_WRITE, &c, err) != AZR_OK) {
        fprintf(stderr, "harness: azr_connect: %s\n", err);
        azr_close(ctx);
        return 99;
    }
#endif
#if $( [ "$(opt fd "$args")" = yes ] && echo 1 || echo 0 )
    if ((fd = open(argv[2], O_RDWR)) < 0) {
        perror(argv[2]);
        return 99;
    }
#endif
    int rc = example(ctx, c, fd);
    if (fd >= 0)
        close(fd);
    azr_conn_close(c);
    azr_close(ctx);
    return rc;
}
EOF
    } >"$c"
    if ! compile_program "$tmp/fragment-$id" "$c" >"$logs/$id" 2>&1; then
        failed "$where c-fragment does not compile" "$logs/$id" 
        continue
    fi
    if [ "$needs_server" = yes ] && [ -z "$port" ]; then
        partial "$where c-fragment (compiled and linked; needs a redis-server to run)"
        continue
    fi
    cp "$tmp/resp-stream" "$tmp/resp-$id"
    if ! (cd "$work" && AZROUTE_PLUGIN_DIR=$build/plugins/.libs \
              AZROUTE_AZ_ID=apne1-az4 AZROUTE_PASSWORD=example timeout 60 \
              "$tmp/fragment-$id" "$cfg" "$tmp/resp-$id") \
              >"$logs/$id.out" 2>"$logs/$id.err"; then
        failed "$where c-fragment failed when run" "$logs/$id.out" "$logs/$id.err"
        continue
    fi
    want=$(opt expect "$args")
    if [ -n "$want" ] && ! grep -qxF "$want" "$logs/$id.out"; then
        failed "$where c-fragment printed no line '$want'" "$logs/$id.out" "$logs/$id.err"
        continue
    fi
    ok "$where c-fragment (compiled, linked and run${want:+, printed $want})"
done 3<"$tmp/list"

# ---- 7. Sample outputs ------------------------------------------------

have_python=$(command -v python3 2>/dev/null || :)
by_kind output >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    page=${where%%:*}
    if [ -z "$port" ]; then
        partial "$where output (needs a redis-server: not compared)"
        continue
    fi
    cfgname=$(by_kind ini | awk -F '\t' -v p="$page" '{ split($2, w, ":"); if (w[1] == p) { split($3, a, " "); print a[1]; exit } }')
    if [ -z "$cfgname" ]; then
        failed "$where output: $page has no ini example to run it with"
        continue
    fi
    set -- $args
    [ "$1" = azroute ] && shift
    if ! AZROUTE_CONFIG=$work/$cfgname.local AZROUTE_PLUGIN_DIR=$build/plugins/.libs \
            timeout 120 "$AZROUTE_BIN" "$@" >"$logs/$id.out" 2>"$logs/$id.err"; then
        failed "$where output: azroute $* failed" "$logs/$id.err"
        continue
    fi
    if head -c 1 "$ex/$id" | grep -q '{'; then
        if [ -z "$have_python" ]; then
            partial "$where output (JSON, no python3 to compare it)"
            continue
        fi
        if "$have_python" - "$ex/$id" "$logs/$id.out" >"$logs/$id.cmp" 2>&1 <<'EOF'
import json, re, sys
sample = re.sub(r',\s*\.\.\.', '', open(sys.argv[1]).read())
want, got = json.loads(sample), json.loads(open(sys.argv[2]).read())
def keys(v, path="$"):
    if isinstance(v, dict):
        out = {path: sorted(v)}
        for k, x in v.items():
            out.update(keys(x, path + "." + k))
        return out
    if isinstance(v, list) and v:
        return keys(v[0], path + "[]")
    return {}
w, g = keys(want), keys(got)
bad = [p for p in sorted(set(w) | set(g)) if w.get(p) != g.get(p)]
for p in bad:
    print("%s: the page shows %s, azroute printed %s" % (p, w.get(p), g.get(p)))
sys.exit(1 if bad else 0)
EOF
        then
            ok "$where output azroute $* (same JSON keys)"
        else
            failed "$where output azroute $*: JSON differs" "$logs/$id.cmp" "$logs/$id.out"
        fi
    else
        shape() {
            sed -e 's/([a-z]*)/(SOURCE)/' -e 's/[0-9][0-9]*\(\.[0-9][0-9]*\)\{0,1\}/N/g' "$1" |
                tr -s ' \t' '  ' | sed 's/^ //; s/ $//'
        }
        shape "$ex/$id" >"$logs/$id.want"
        shape "$logs/$id.out" >"$logs/$id.got"
        if diff "$logs/$id.want" "$logs/$id.got" >"$logs/$id.diff"; then
            ok "$where output azroute $* (same lines, numbers aside)"
        else
            failed "$where output azroute $*: differs (- page, + azroute)" "$logs/$id.diff"
        fi
    fi
done 3<"$tmp/list"

# ---- 8. Declarations and file excerpts --------------------------------

normalize_c() {
    # Comments out (the compiler's own stripping, macros untouched), one
    # line, single blanks, none next to punctuation.
    "$real_cc" -fpreprocessed -dD -E -P -x c "$1" 2>/dev/null | tr '\n\t' '  ' |
        sed -e 's/  */ /g' -e 's/ *\([][(){},;*=]\) */\1/g' \
            -e 's/^ //' -e 's/ $//'
}
by_kind decl >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    set -- $args
    header=$src/include/azroute/$1
    if [ ! -f "$header" ]; then
        failed "$where decl: no $header"
        continue
    fi
    h=$(normalize_c "$header")
    d=$(normalize_c "$ex/$id")
    case $h in
    *"$d"*) ok "$where decl (as in $1)" ;;
    *) printf '%s\n' "$d" >"$logs/$id"
       failed "$where decl: not in $1 as written (normalized below)" "$logs/$id" ;;
    esac
done 3<"$tmp/list"

by_kind file >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    set -- $args
    missing=
    while IFS= read -r l; do
        [ -n "$l" ] || continue
        grep -qxF -- "$l" "$src/$1" || missing="$missing
    $l"
    done <"$ex/$id"
    if [ -z "$missing" ]; then
        ok "$where file (every line is in $1)"
    else
        failed "$where file: not in $1:$missing"
    fi
done 3<"$tmp/list"

by_kind skip >"$tmp/list"
while IFS='	' read -r id where args <&3; do
    skipped "$where ($args)"
done 3<"$tmp/list"

known="c-program c-plugin c-fragment ini ini-fragment env message sh output decl file skip"
awk -F '\t' '$1 != "ERR" && $3 != "UNMARKED" { split($3, w, " "); print $2 "\t" w[1] }' \
    "$tmp/manifest" | while IFS='	' read -r where kind; do
    case " $known " in
    *" $kind "*) ;;
    *) echo "$where: unknown example kind '$kind'" ;;
    esac
done >"$tmp/unknown"
while IFS= read -r l; do failed "$l"; done <"$tmp/unknown"

echo "man_examples: $n_examples blocks: $n_ok checked, $n_partial compiled or built only," \
     "$n_skip marked skip, $n_fail failed"
if [ "$n_ok" -eq 0 ]; then
    echo "FAIL: no example was checked" >&2
    exit 1
fi
[ "$n_fail" -eq 0 ] || exit 1
exit 0
