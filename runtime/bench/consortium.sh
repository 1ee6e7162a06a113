#!/usr/bin/env bash
# A three-member consortium on this machine, `hanok bench` against its leader, then each member's
# time per transaction in each block stage (from its Prometheus metrics). See docs/PERFORMANCE.md.
#
# Usage: runtime/bench/consortium.sh target/release/hanok OUTDIR [hanok bench args...]
#   e.g. runtime/bench/consortium.sh target/release/hanok /tmp/b3 --workload transfer --duration 20
# Metrics ports 19301-19303 must be free. OUTDIR is replaced.
set -euo pipefail
BIN=$1; OUT=$2; shift 2
rm -rf "$OUT"; mkdir -p "$OUT"
"$BIN" consortium init --members registry,bank-a,bank-b --out "$OUT/trial" >/dev/null
TLS=(--ca "$OUT/trial/ca.pem" --cert "$OUT/trial/client.pem" --key "$OUT/trial/client.key")
declare -A MPORT=([registry]=19301 [bank-a]=19302 [bank-b]=19303)
PIDS=()
for m in registry bank-a bank-b; do
  "$BIN" --log warn node --config "$OUT/trial/$m.toml" --metrics 127.0.0.1:${MPORT[$m]} > "$OUT/$m.out" 2> "$OUT/$m.log" &
  PIDS+=($!)
done
trap 'kill ${PIDS[@]} 2>/dev/null; wait 2>/dev/null' EXIT
addr() { grep -m1 '^listen' "$OUT/trial/$1.toml" | cut -d'"' -f2; }
LEADER=""
for i in $(seq 1 300); do
  for m in registry bank-a bank-b; do
    r=$("$BIN" status --json --endpoint "https://$(addr $m)" "${TLS[@]}" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["role"])' 2>/dev/null || true)
    if [ "$r" = leader ]; then LEADER=$m; fi
  done
  [ -n "$LEADER" ] && break
  sleep 0.2
done
echo "leader: $LEADER"
"$BIN" bench --endpoint "https://$(addr $LEADER)" "${TLS[@]}" --json "$OUT/bench.json" "$@" | tee "$OUT/bench.txt"
for m in registry bank-a bank-b; do
  curl -s "http://127.0.0.1:${MPORT[$m]}/metrics" > "$OUT/$m.metrics"
done
python3 - "$OUT" "$LEADER" <<'PY'
# Stage sums over committed transactions, in µs; a follower scraped right after the run may
# not have applied the last blocks yet, which its own count reflects.
import re,sys
out,leader=sys.argv[1],sys.argv[2]
for m in ["registry","bank-a","bank-b"]:
    t=open(f"{out}/{m}.metrics").read()
    sums={k:float(v) for k,v in re.findall(r'hanok_block_stage_seconds_sum\{stage="(\w+)"\} ([0-9.e+-]+)',t)}
    txs=sum(float(v) for v in re.findall(r'hanok_transactions_total\{outcome="\w+"\} ([0-9.e+-]+)',t))
    per={k:(v/txs*1e6 if txs else 0) for k,v in sums.items()}
    role="leader" if m==leader else "follower"
    print(f"{m:9} {role:8} txs {int(txs):7}  " + "  ".join(f"{k} {per.get(k,0):6.1f}" for k in ["verify","execute","log","state","total","order"]) + "  (µs per tx)")
PY
