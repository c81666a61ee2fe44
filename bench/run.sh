#!/usr/bin/env bash
# bench/run.sh - envoi side by side with Postfix + OpenDKIM and Haraka, in one
# run, on the same load: rounds interleave the configurations so the shared
# machine's noise falls on all of them alike.
#
# usage: bench/run.sh [ROUNDS] [N]      (defaults 3 and 5000; root)
#        SIZE=102400 bench/run.sh 1 1000 (message size for every configuration)
#        PROFILE=tls bench/run.sh        (every hop over TLS, as on the Internet)
#        PROFILE=tls-many bench/run.sh   (and 200 destination domains, 5 % deferred once)
#
#   SMTP, every configuration: smtp-source -s 20 -m N -l 4096 -> server on
#   127.0.0.1 -> smtp-sink 127.0.0.2:2526, DKIM RSA-2048 relaxed/relaxed with
#   the same key, every message durable before its 250, warm-up signatures
#   verified with dkimpy (../shared/bench/peers/lib_peer.sh does all that).
#   HTTP, envoi only: 20 clients (as smtp-source -s 20) POST /v3/{domain}/messages (4 KB), delivered
#   to a sink (target/release/e2e).
#
# Prints a table: median msg/s and CPU ms per message (all processes of the
# run: load generator, server, milter, sink), envoi's ratios to each peer,
# p50/p99 accept latency (HTTP), each system's peak memory (bench/memwatch.py)
# and envoi's peak RSS.
#
#   The TLS profiles run Postfix + OpenDKIM and envoi over SMTP through the
#   same harness, with bench/tls/ first in PATH: smtp-source becomes smtpload
#   submitting with STARTTLS and verifying the server, smtp-sink becomes
#   tlssink offering STARTTLS, and Postfix gets smtpd_tls_* and
#   smtp_tls_security_level = verify; both verify the sink's certificate from a
#   test CA made here (BENCH_STATE/tls) and retry after 5 s. tls-many sends to
#   200 domains (every recipient different) and the sink answers 451 once to
#   5 % of them.
# env: BENCH_STATE (default /srv/envoi-bench), PEERS (the peers' folder).
set -euo pipefail

ROUNDS=${1:-3}
N=${2:-5000}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$(cd "$REPO/../shared/bench/peers" && pwd)}
export BENCH_STATE=${BENCH_STATE:-/srv/envoi-bench}
mkdir -p "$BENCH_STATE"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$PEERS/setup.sh" >&2
(cd "$REPO" && cargo build --release -q -p gateway -p envoi-bench)

PROFILE=${PROFILE:-plain}
# test_ca DIR: a CA and one server certificate for every hop (submission to
# Postfix or envoi, delivery to the sink, by name or by IP literal).
test_ca() {
  mkdir -p "$1"; cd "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
    -subj "/CN=envoi bench test CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
    -subj "/CN=relay.bench.example.test" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:relay.bench.example.test,DNS:sink.bench.example.test,IP:127.0.0.1,IP:127.0.0.2" \
    "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile server.ext -out server.pem 2>/dev/null
  chmod 644 server.key; cd - >/dev/null
}
case $PROFILE in
  plain) ;;
  tls|tls-many)
    export TLS_DIR=$BENCH_STATE/tls BENCH_BIN=$REPO/target/release PATH=$REPO/bench/tls:$PATH
    test_ca "$TLS_DIR"
    if [[ $PROFILE == tls-many ]]; then export LOAD_OPTS="--domains 200 --unique" SINK_DEFER=5; fi ;;
  *) echo "bench: PROFILE is plain, tls or tls-many, not $PROFILE" >&2; exit 2 ;;
esac

# run NAME COMMAND... : one round of one configuration; keeps stdout and stderr
run() {
  local name=$1 watch rc=0; shift
  echo "== round $round: $name" >&2
  # Peak memory of the system under test (Pss of all its processes).
  python3 "$REPO/bench/memwatch.py" "$OUT/$name.$round.mem" & watch=$!
  "$@" >"$OUT/$name.$round.out" 2>"$OUT/$name.$round.err" || rc=$?
  kill "$watch"; wait "$watch" || true
  if (( rc != 0 )); then
    tail -20 "$OUT/$name.$round.err" >&2
    echo "bench: $name failed in round $round" >&2
    exit 1
  fi
  cat "$OUT/$name.$round.out" >&2
}

for round in $(seq "$ROUNDS"); do
  if [[ $PROFILE != plain ]]; then
    run postfix+opendkim "$PEERS/peer_postfix.sh" dkim "$N"
    cat "$TLS_DIR/postfix-tls.log" >&2
    run envoi-smtp "$REPO/bench/peer_envoi.sh" "$N"
    grep -h 'envoi delivery sessions' "$OUT/envoi-smtp.$round.err" >&2 || true
    continue
  fi
  run postfix+opendkim "$PEERS/peer_postfix.sh" dkim "$N"
  run haraka+dkim "$PEERS/peer_haraka.sh" dkim "$N"
  run envoi-smtp "$REPO/bench/peer_envoi.sh" "$N"
  run envoi-http "$REPO/target/release/e2e" "$N" 20 --size "${SIZE:-4096}"
  # The same load paced at half of what this round reached: latency below saturation.
  half=$(sed -n 's/^RESULT msg_s=\([0-9.]*\).*/\1/p' "$OUT/envoi-http.$round.out" | awk '{printf "%.0f", $1/2}')
  run envoi-http-half "$REPO/target/release/e2e" "$N" 20 --size "${SIZE:-4096}" --rate "$half"
done

# One value per round, then the median.
median() { sort -g | awk '{v[NR]=$1} END{if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
smtp_rate() { for f in "$OUT/$1".*.out; do sed -n 's/.*= \([0-9.]*\) msg\/s.*/\1/p' "$f"; done | median; }
smtp_cpu() { for f in "$OUT/$1".*.err; do sed -n 's/.*cpu: ours \([0-9.]*\) ms\/msg.*/\1/p' "$f"; done | median; }
http_field() { for f in "$OUT/${2:-envoi-http}".*.out; do sed -n "s/^RESULT.* $1=\([0-9.]*\).*/\1/p" "$f"; done | median; }
envoi_rss() { for f in "$OUT"/envoi-smtp.*.err; do sed -n 's/.*envoi peak RSS: \([0-9.]*\) MiB.*/\1/p' "$f"; done | median; }
# peak Pss of a configuration's processes (group: postfix, haraka, envoi), the median over rounds
peak_mem() { for f in "$OUT/$1".*.mem; do sed -n "s/^$2 peak_pss_mib=\([0-9.]*\).*/\1/p" "$f"; done | median; }

pf_rate=$(smtp_rate postfix+opendkim); pf_cpu=$(smtp_cpu postfix+opendkim)
es_rate=$(smtp_rate envoi-smtp); es_cpu=$(smtp_cpu envoi-smtp)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f×", a/b}'; }
inv() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f×", b/a}'; }

if [[ $PROFILE != plain ]]; then
  echo
  echo "$(date -u +%F) $(nproc) cores, profile $PROFILE${LOAD_OPTS:+ ($LOAD_OPTS, ${SINK_DEFER:-0} % deferred once)}, $ROUNDS interleaved rounds of $N messages of ${SIZE:-4096} bytes (medians)"
  echo
  echo "| configuration | msg/s | CPU ms/msg | msg/s vs Postfix+OpenDKIM | CPU vs Postfix+OpenDKIM | peak memory (Pss) |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| Postfix + OpenDKIM | $pf_rate | $pf_cpu | 1.0× | 1.0× | $(peak_mem postfix+opendkim postfix) MiB |"
  echo "| envoi, SMTP | $es_rate | $es_cpu | $(ratio "$es_rate" "$pf_rate") | $(inv "$es_cpu" "$pf_cpu") | $(peak_mem envoi-smtp envoi) MiB |"
  echo
  echo "CPU: every process of the run (cgroup): load generator, server, milter, sink; TLS on every hop."
  exit 0
fi

hk_rate=$(smtp_rate haraka+dkim); hk_cpu=$(smtp_cpu haraka+dkim)
eh_rate=$(http_field msg_s); eh_cpu=$(http_field cpu_ms)

echo
echo "$(date -u +%F) $(nproc) cores, $ROUNDS interleaved rounds of $N messages of ${SIZE:-4096} bytes (medians)"
echo
echo "| configuration | msg/s | CPU ms/msg | msg/s vs Postfix+OpenDKIM | msg/s vs Haraka | CPU vs Postfix+OpenDKIM | accept p50 / p99 | peak memory (Pss) | envoi peak RSS |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| Postfix + OpenDKIM | $pf_rate | $pf_cpu | 1.0× | | 1.0× | | $(peak_mem postfix+opendkim postfix) MiB | |"
echo "| Haraka + dkim | $hk_rate | $hk_cpu | $(ratio "$hk_rate" "$pf_rate") | 1.0× | $(inv "$hk_cpu" "$pf_cpu") | | $(peak_mem haraka+dkim haraka) MiB | |"
echo "| envoi, SMTP | $es_rate | $es_cpu | $(ratio "$es_rate" "$pf_rate") | $(ratio "$es_rate" "$hk_rate") | $(inv "$es_cpu" "$pf_cpu") | | $(peak_mem envoi-smtp envoi) MiB | $(envoi_rss) MiB |"
echo "| envoi, HTTP | $eh_rate | $eh_cpu | $(ratio "$eh_rate" "$pf_rate") | $(ratio "$eh_rate" "$hk_rate") | $(inv "$eh_cpu" "$pf_cpu") | $(http_field p50_ms) / $(http_field p99_ms) ms | $(peak_mem envoi-http envoi) MiB | $(http_field rss_mib) MiB |"
echo "| envoi, HTTP at half load | $(http_field msg_s envoi-http-half) | $(http_field cpu_ms envoi-http-half) | | | | $(http_field p50_ms envoi-http-half) / $(http_field p99_ms envoi-http-half) ms | $(peak_mem envoi-http-half envoi) MiB | $(http_field rss_mib envoi-http-half) MiB |"
echo
echo "CPU vs Postfix: how many times less CPU per message. SMTP CPU is every process of the run (cgroup);"
echo "peak memory: the largest sum of Pss (shared pages split between the processes mapping them) of the"
echo "system under test's processes (Postfix's daemons and OpenDKIM; Haraka's nodes; envoi), sampled every 0.1 s;"
echo "HTTP CPU is envoi plus the load generator and sink. Ceiling on this machine now:"
openssl speed -seconds 2 rsa2048 2>/dev/null | tail -1 | awk '{print "openssl RSA-2048 sign/s on one core: " $6}'
