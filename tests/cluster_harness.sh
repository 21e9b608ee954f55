# cluster_harness.sh - local Valkey/Redis Cluster instances (TLS) for the
# cluster-mode tests and benchmarks. Sourced after tests/redis_harness.sh
# (rh_init and rh_make_certs first; rh_use_valkey / rh_use_redis choose
# the server); POSIX sh. Every server is started and stopped by PID
# through rh_start (its cleanup trap stops them all), on 127.0.0.1 only.
#
#   ch_cluster NAME SHARDS REPLICAS [ARGS...]
#                           starts SHARDS x (1 + REPLICAS) TLS-only
#                           cluster nodes NAME1..NAMEk of the current binary
#                           (certificate server, --tls-cluster yes,
#                           --tls-replication yes, a bus port of their own,
#                           --cluster-node-timeout 1000, fast failover
#                           options) with ARGS, then each member's own
#                           rh_group_args; joins them with `redis-cli
#                           --cluster create ... --cluster-replicas
#                           REPLICAS --cluster-yes` (NAME1..NAME<SHARDS>
#                           become the primaries: one address, so
#                           redis-cli takes them in order) and waits
#                           (ch_wait_ok). Returns 1 with a FAIL line on
#                           any failure.
#   ch_wait_ok NAME [SECONDS]
#                           waits (default 30 s) until every live member
#                           reports cluster_state:ok, all of them show the
#                           same CLUSTER NODES view (ids, addresses, flags
#                           but myself, primary, slots), every replica's
#                           link is up and no slot is migrating; then
#                           writes the layout (ch_layout)
#   ch_layout NAME          writes $RH_DIR/NAME.layout from a live member's
#                           CLUSTER NODES, one line per live node:
#                             MEMBER PORT ROLE SHARD NODE_ID SLOTS
#                           ROLE primary|replica; SHARD 1..S, the shards
#                           numbered by their lowest slot in the first
#                           layout, and each keeping its number after (a
#                           shard is its members: the number of its
#                           primary's, else of a replica's, in
#                           $RH_DIR/NAME.shardmap); SLOTS the primary's
#                           ranges (first-last,...) or "-"
#   ch_primary NAME SHARD   prints the member that is SHARD's primary
#   ch_replicas NAME SHARD  prints SHARD's replicas, by member number
#   ch_node_id NAME MEMBER  prints MEMBER's cluster node id
#   ch_hints NAME AZ_PRIMARY AZ_REPLICA...
#                           prints azroute.ini [node MEMBER] sections (host,
#                           port, az) for every node of the layout: each
#                           shard's primary in AZ_PRIMARY, its replicas (by
#                           member number) in AZ_REPLICA... in turn
#   ch_kill MEMBER          SIGKILL; later waits leave it out
#   ch_wait_synced NAME [SECONDS]
#                           waits (default 10 s) until every replica has
#                           processed its primary's replication stream up
#                           to the primary's offset when the call began
#   ch_cli ARGS...          redis-cli over TLS (ca.crt), bounded (120 s),
#                           for --cluster commands: ch_cli --cluster
#                           reshard 127.0.0.1:PORT ...
#   ch_members NAME         prints the live members, in order
#
# Every wait is bounded; nothing here touches a non-loopback address.

CH_DEAD=""

ch_members() {
    eval "ch_mn=\${CH_N_$1:-0}"
    ch_mi=1
    while [ "$ch_mi" -le "$ch_mn" ]; do
        case " $CH_DEAD " in
        *" $1$ch_mi "*) ;;
        *) echo "$1$ch_mi" ;;
        esac
        ch_mi=$((ch_mi + 1))
    done
}

ch_cli() {
    [ -n "$RH_CLI" ] ||
        rh_unavailable "redis-cli not found (install the Debian package redis-tools)"
    timeout 120 "$RH_CLI" --tls --cacert "$RH_DIR/ca.crt" "$@" </dev/null
}

ch_cluster() {
    ch_name=$1
    ch_shards=$2
    ch_repl=$3
    shift 3
    [ -n "$RH_CLI" ] ||
        rh_unavailable "redis-cli not found (install the Debian package redis-tools)"
    ch_n=$((ch_shards * (ch_repl + 1)))
    eval "CH_N_$ch_name=$ch_n"
    # The bus and replication links verify their peer against ca.crt;
    # client-ca stays trusted for client.crt.
    cat "$RH_DIR/ca.crt" "$RH_DIR/client-ca.crt" > "$RH_DIR/group-ca.crt" ||
        { echo "FAIL: ch_cluster: no certificates (rh_make_certs)"; return 1; }
    ch_common=""
    for rh_a in "$@"; do
        ch_common="$ch_common $(rh_quote "$rh_a")"
    done
    # Failover on loopback: a replica may always stand (validity factor
    # 0); no replica migrates between shards (the layout stays as made);
    # a shard with no primary leaves the others serving. Replicas hear
    # from their primary every second: CLUSTER SHARDS shows a replica
    # whose offset is still 0 as "loading" until then (10 s by default).
    ch_common="--cluster-enabled yes --cluster-port BUSPORT \
--cluster-config-file nodes.conf --cluster-node-timeout 1000 \
--cluster-require-full-coverage no --cluster-replica-validity-factor 0 \
--cluster-allow-replica-migration no --tls-cluster yes --tls-replication yes \
--tls-ca-cert-file '$RH_DIR/group-ca.crt' --repl-diskless-sync-delay 0 \
--repl-ping-replica-period 1 \
$ch_common"
    ch_addrs=""
    ch_i=1
    while [ "$ch_i" -le "$ch_n" ]; do
        ch_m=$ch_name$ch_i
        ch_own=""
        eval "ch_own=\${RH_GARGS_$ch_m:-}"
        eval "rh_start_tls \"\$ch_m\" server $ch_common $ch_own" || return 1
        ch_addrs="$ch_addrs 127.0.0.1:$RH_PORT"
        ch_i=$((ch_i + 1))
    done
    # shellcheck disable=SC2086 # one word per address
    if ! ch_cli --cluster create $ch_addrs --cluster-replicas "$ch_repl" \
            --cluster-yes > "$RH_DIR/$ch_name-create.log" 2>&1; then
        echo "FAIL: ch_cluster: redis-cli --cluster create failed:"
        tail -5 "$RH_DIR/$ch_name-create.log"
        return 1
    fi
    ch_wait_ok "$ch_name" 30 || return 1
    # The first SHARDS members are the primaries (one address: redis-cli
    # takes the primaries in the order given).
    ch_i=1
    while [ "$ch_i" -le "$ch_shards" ]; do
        awk -v m="$ch_name$ch_i" '$1 == m && $3 == "primary" { f = 1 }
            END { exit !f }' "$RH_DIR/$ch_name.layout" || {
            echo "FAIL: ch_cluster: $ch_name$ch_i is not a primary:"
            cat "$RH_DIR/$ch_name.layout"
            return 1
        }
        ch_i=$((ch_i + 1))
    done
}

# ch_view MEMBER: the member's CLUSTER NODES, normalized (no epochs, ping
# times, link states or "myself"), sorted; then lines "state ...",
# "link ..." and "migrating" when a slot is migrating or importing.
ch_view() {
    printf 'CLUSTER INFO\nCLUSTER NODES\nINFO replication\nCLUSTER SHARDS\n' |
        timeout 5 "$RH_CLI" -h 127.0.0.1 -p "$(rh_port "$1")" --tls \
            --cacert "$RH_DIR/ca.crt" 2>/dev/null | tr -d '\r' |
        awk '
        /^cluster_state:/ { state = $0; next }
        /^master_link_status:/ { link = $0; next }
        # CLUSTER SHARDS, one element a line: each node'"'"'s id, then health
        want == "id" { id = $0; want = ""; next }
        want == "health" { print "hh " id " " $0; want = ""; next }
        $0 == "id" || $0 == "health" { want = $0; next }
        NF >= 8 && $2 ~ /@/ {
            split($2, a, "@"); flags = $3
            gsub(/myself,?/, "", flags); sub(/,$/, "", flags)
            line = $1 " " a[1] " " flags " " $4
            for (i = 9; i <= NF; i++) {
                if (substr($i, 1, 1) == "[") { mig = 1; continue }
                line = line " " $i
            }
            print line
        }
        END {
            print "zz state " state
            if (link != "") print "zz link " link
            if (mig) print "zz migrating"
        }' | sort
}

ch_wait_ok() {
    ch_wname=$1
    ch_wmax=$((${2:-30} * 4))
    ch_w=0
    while [ "$ch_w" -lt "$ch_wmax" ]; do
        ch_ok=1
        ch_first=""
        for ch_m in $(ch_members "$ch_wname"); do
            ch_view "$ch_m" > "$RH_DIR/$ch_m.view"
            if ! grep -q '^zz state cluster_state:ok$' "$RH_DIR/$ch_m.view" ||
               grep -q '^zz migrating$' "$RH_DIR/$ch_m.view" ||
               grep -q '^zz link master_link_status:down' "$RH_DIR/$ch_m.view"; then
                ch_ok=0
                break
            fi
            grep -v '^zz \|^hh ' "$RH_DIR/$ch_m.view" > "$RH_DIR/$ch_m.nodes"
            if [ -z "$ch_first" ]; then
                ch_first=$ch_m
            elif ! cmp -s "$RH_DIR/$ch_first.nodes" "$RH_DIR/$ch_m.nodes"; then
                ch_ok=0
                break
            fi
        done
        # Every node is known with a role and no failure flag, bar the
        # killed ones (which must be flagged fail, not fail?).
        if [ "$ch_ok" = 1 ] && [ -n "$ch_first" ]; then
            ch_dead_ports=""
            for ch_d in $CH_DEAD; do
                ch_dead_ports="$ch_dead_ports 127.0.0.1:$(rh_port "$ch_d")"
            done
            awk -v dead="$ch_dead_ports" '
                BEGIN { n = split(dead, d, " "); for (i = 1; i <= n; i++) isdead[d[i]] = 1 }
                isdead[$2] { if ($3 !~ /(^|,)fail($|,)/) bad = 1; next }
                $3 ~ /fail|handshake|noaddr/ { bad = 1 }
                END { exit bad }' "$RH_DIR/$ch_first.nodes" || ch_ok=0
            # CLUSTER SHARDS: every live node online in every view (a
            # replica still loading its first sync is "loading").
            for ch_m in $(ch_members "$ch_wname"); do
                [ "$ch_ok" = 1 ] || break
                awk -v dead="$ch_dead_ports" '
                    BEGIN { n = split(dead, d, " "); for (i = 1; i <= n; i++) isdead[d[i]] = 1 }
                    NR == FNR { if (isdead[$2]) deadid[$1] = 1; next }
                    $1 == "hh" && !deadid[$2] && $3 != "online" { bad = 1 }
                    $1 == "hh" { seen++ }
                    END { exit bad || !seen }' "$RH_DIR/$ch_first.nodes" \
                    "$RH_DIR/$ch_m.view" || ch_ok=0
            done
        fi
        [ -n "${CH_DEBUG:-}" ] && echo "ch_wait_ok: $ch_w ok=$ch_ok at $ch_m" >&2
        if [ "$ch_ok" = 1 ] && [ -n "$ch_first" ]; then
            ch_layout "$ch_wname" "$ch_first"
            return 0
        fi
        sleep 0.25
        ch_w=$((ch_w + 1))
    done
    echo "FAIL: ch_wait_ok: cluster $ch_wname not ok and agreed after $((ch_wmax / 4)) s"
    for ch_m in $(ch_members "$ch_wname"); do
        echo "--- $ch_m (port $(rh_port "$ch_m"))"
        cat "$RH_DIR/$ch_m.view" 2>/dev/null
    done
    return 1
}

ch_layout() {
    ch_lname=$1
    ch_from=${2:-$(ch_members "$ch_lname" | head -n 1)}
    : > "$RH_DIR/$ch_lname.ports"
    eval "ch_ln=\${CH_N_$ch_lname:-0}"
    ch_i=1
    while [ "$ch_i" -le "$ch_ln" ]; do
        echo "$(rh_port "$ch_lname$ch_i") $ch_lname$ch_i" >> "$RH_DIR/$ch_lname.ports"
        ch_i=$((ch_i + 1))
    done
    rh_cli "$ch_from" CLUSTER NODES | tr -d '\r' > "$RH_DIR/$ch_lname.cnodes" ||
        { echo "FAIL: ch_layout: CLUSTER NODES from $ch_from"; return 1; }
    ch_lmap="$RH_DIR/$ch_lname.shardmap"
    [ -s "$ch_lmap" ] || ch_lmap=""
    awk -v mapfile="$ch_lmap" '
        NR == FNR { member[$1] = $2; next }
        $3 ~ /(^|,)fail/ { next }
        {
            split($2, a, "@"); split(a[1], hp, ":"); port = hp[2]
            m = (port in member) ? member[port] : "?" port
            slots = ""; low = 99999
            for (i = 9; i <= NF; i++) {
                if (substr($i, 1, 1) == "[") continue
                split($i, r, "-"); if (r[2] == "") $i = $i "-" $i
                slots = slots (slots == "" ? "" : ",") $i
                if (r[1] + 0 < low) low = r[1] + 0
            }
            if ($3 ~ /master/) {
                role[$1] = "primary"; pri[$1] = $1; first[$1] = low
            } else {
                role[$1] = "replica"; pri[$1] = $4
            }
            name[$1] = m; mport[$1] = port; sl[$1] = (slots == "" ? "-" : slots)
        }
        END {
            # primaries with slots
            n = 0
            for (id in role) if (role[id] == "primary" && sl[id] != "-") ids[++n] = id
            if (mapfile != "" && (getline l < mapfile) > 0) {
                # a shard keeps its number: the number its members had
                do { split(l, f, " "); was[f[1]] = f[2] } while ((getline l < mapfile) > 0)
                for (id in role) if (name[id] in was) {
                    p = (role[id] == "primary") ? id : pri[id]
                    if (!(p in shard) || role[id] == "primary") shard[p] = was[name[id]]
                }
            } else {
                # the first layout: shards 1..S by lowest slot
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                    if (first[ids[j]] < first[ids[i]]) { t = ids[i]; ids[i] = ids[j]; ids[j] = t }
                for (i = 1; i <= n; i++) shard[ids[i]] = i
            }
            for (id in role) {
                s = (pri[id] in shard) ? shard[pri[id]] : 0
                print name[id], mport[id], role[id], s, id, sl[id]
            }
        }' "$RH_DIR/$ch_lname.ports" "$RH_DIR/$ch_lname.cnodes" |
        sort -k4,4n -k3,3 -k1,1 > "$RH_DIR/$ch_lname.layout"
    [ -s "$RH_DIR/$ch_lname.shardmap" ] ||
        awk '{ print $1, $4 }' "$RH_DIR/$ch_lname.layout" > "$RH_DIR/$ch_lname.shardmap"
}

ch_primary() {
    awk -v s="$2" '$4 == s && $3 == "primary" { print $1 }' "$RH_DIR/$1.layout"
}

ch_replicas() {
    awk -v s="$2" '$4 == s && $3 == "replica" { print $1 }' "$RH_DIR/$1.layout" |
        sort -V
}

ch_node_id() {
    awk -v m="$2" '$1 == m { print $5 }' "$RH_DIR/$1.layout"
}

ch_hints() {
    ch_hname=$1
    ch_haz=$2
    shift 2
    for ch_hs in $(awk '{ print $4 }' "$RH_DIR/$ch_hname.layout" | sort -un); do
        ch_hp=$(ch_primary "$ch_hname" "$ch_hs")
        printf '[node %s]\nhost = 127.0.0.1\nport = %s\naz = %s\n' \
            "$ch_hp" "$(rh_port "$ch_hp")" "$ch_haz"
        ch_hi=0
        for ch_hr in $(ch_replicas "$ch_hname" "$ch_hs"); do
            ch_hi=$((ch_hi + 1))
            eval "ch_hraz=\${$ch_hi:-}"
            [ -n "$ch_hraz" ] || { echo "FAIL: ch_hints: no AZ for replica $ch_hi" >&2; return 1; }
            printf '[node %s]\nhost = 127.0.0.1\nport = %s\naz = %s\n' \
                "$ch_hr" "$(rh_port "$ch_hr")" "$ch_hraz"
        done
    done
}

# ch_ini NAME FILE: the azroute.ini the cluster tests share: cluster mode
# seeded by the three first members, room for failovers (max_attempts 8,
# failover_wait_ms 8000), TLS with the harness's CA, and [node] hints
# giving each shard's primary use1-az1 and its replicas use1-az2, use1-az3.
ch_ini() {
    {
        cat <<INI
[azroute]
transport = resp_tls
max_attempts = 8
[topology]
mode = cluster
seeds = 127.0.0.1:$(rh_port "${1}1"), 127.0.0.1:$(rh_port "${1}2"), 127.0.0.1:$(rh_port "${1}3")
failover_wait_ms = 8000
[transport resp_tls]
ca_file = $RH_DIR/ca.crt
connect_timeout_ms = 300
command_timeout_ms = 2000
INI
        ch_hints "$1" use1-az1 use1-az2 use1-az3
    } > "$2"
}

ch_kill() {
    eval "ch_kpid=\${RH_PID_$1:-}"
    [ -n "$ch_kpid" ] || { echo "FAIL: ch_kill: no server $1"; return 1; }
    kill -9 "$ch_kpid" 2>/dev/null || return 1
    CH_DEAD="$CH_DEAD $1"
}

ch_wait_synced() {
    ch_sname=$1
    ch_smax=$((${2:-10} * 10))
    # Each primary's offset now; then every replica of its shard must
    # have processed at least that much (the offsets grow by themselves:
    # the primary pings its replicas every second).
    : > "$RH_DIR/$ch_sname.offsets"
    for ch_p in $(awk '$3 == "primary" { print $1 }' "$RH_DIR/$ch_sname.layout"); do
        ch_off=$(rh_cli "$ch_p" INFO replication 2>/dev/null | tr -d '\r' |
                 sed -n 's/^master_repl_offset://p')
        [ -n "$ch_off" ] || { echo "FAIL: ch_wait_synced: no offset from $ch_p"; return 1; }
        awk -v p="$ch_p" -v off="$ch_off" '
            $1 == p { s = $4 } { r[NR] = $1; role[NR] = $3; sh[NR] = $4 }
            END { for (i in r) if (role[i] == "replica" && sh[i] == s) print r[i], off }' \
            "$RH_DIR/$ch_sname.layout" >> "$RH_DIR/$ch_sname.offsets"
    done
    ch_w=0
    while [ "$ch_w" -lt "$ch_smax" ]; do
        ch_ok=1
        while read -r ch_r ch_off; do
            ch_roff=$(rh_cli "$ch_r" INFO replication 2>/dev/null | tr -d '\r' |
                      sed -n 's/^slave_repl_offset://p')
            [ -n "$ch_roff" ] && [ "$ch_roff" -ge "$ch_off" ] || { ch_ok=0; break; }
        done < "$RH_DIR/$ch_sname.offsets"
        [ "$ch_ok" = 1 ] && return 0
        sleep 0.1
        ch_w=$((ch_w + 1))
    done
    echo "FAIL: ch_wait_synced: replicas of $ch_sname behind after $((ch_smax / 10)) s"
    return 1
}
