#!/usr/bin/env bash
# Starts a three-node NATS JetStream cluster (n1.conf, n2.conf, n3.conf) and two
# evhost daemons on config.toml, on loopback, and stops everything on Ctrl-C.
# Everything they write goes under ./data (delete it to start afresh).
#
#   examples/cluster/run.sh            from anywhere in the checkout
#
# Ports: NATS clients 4222-4224, routes 6222-6224, monitoring 8222-8224;
# evhost HTTP APIs 8081 (d1) and 8082 (d2).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
mkdir -p data/bin

echo "building nats-server (the version in go.mod) and evhost..."
(cd "$root" && go build -o examples/cluster/data/bin/nats-server github.com/nats-io/nats-server/v2)
(cd "$root" && go build -o examples/cluster/data/bin/evhost ./cmd/evhost)

# Job control puts each background process in a process group of its own, so
# that Ctrl-C reaches this script only, which then stops things in order.
set -m
daemons=()
servers=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping: the daemons drain, then the NATS servers stop"
	for p in "${daemons[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${daemons[@]}"; do wait "$p" 2>/dev/null || true; done
	for p in "${servers[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${servers[@]}"; do wait "$p" 2>/dev/null || true; done
	echo "stopped; the streams and the plugins' build cache stay in $(pwd)/data"
}
trap stop INT TERM EXIT

# start NAME CMD...: runs CMD in the background, its output prefixed with
# [NAME], and records its pid in data/NAME.pid and in $started. The prefix
# is added by bash's read, one line at a time: Debian's awk (mawk) reads
# its input in blocks, so a daemon's last lines showed only when later
# output pushed them through, tens of seconds late.
start() {
	local name=$1
	shift
	"$@" > >(while IFS= read -r line; do printf '[%s] %s\n' "$name" "$line"; done) 2>&1 &
	started=$!
	echo "$started" >"data/$name.pid"
}

for n in n1 n2 n3; do
	start "$n" data/bin/nats-server -c "$n.conf"
	servers+=("$started")
done

echo "waiting for the NATS servers (JetStream healthy on all three)..."
for port in 8222 8223 8224; do
	for _ in $(seq 1 150); do
		curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
		sleep 0.2
	done
	curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "the NATS server monitored on $port is not healthy" >&2; exit 1; }
done

# ready PORT PID: waits for the daemon PID to answer /readyz on PORT.
ready() {
	for _ in $(seq 1 600); do
		curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.2
	done
	echo "the daemon on port $1 is not ready; see its lines above" >&2
	exit 1
}

# Same config.toml for both; the second daemon gets its own port and data dir.
# It starts once the first is ready: two daemons creating the streams of a
# fresh cluster at the same moment can both wait a minute for NATS to answer
# (see README.md, "Starting several daemons at once").
echo "starting d1 (its first run builds the plugins from Go source)..."
start d1 data/bin/evhost run --config config.toml --data-dir data/d1
daemons+=("$started")
ready 8081 "$started"
echo "starting d2..."
start d2 data/bin/evhost run --config config.toml --data-dir data/d2 --listen 127.0.0.1:8082
daemons+=("$started")
ready 8082 "$started"

cat <<EOF

Ready: NATS cluster n1 n2 n3 (R3 streams), evhost d1 on 127.0.0.1:8081 and d2 on 127.0.0.1:8082.

Publish an order to either daemon (from $root):
  go run ./cmd/evhost publish --addr 127.0.0.1:8081 order.placed '{"id":1,"product_id":"sku-1"}'
  go run ./cmd/evhost publish --addr 127.0.0.1:8082 order.placed '{"id":2,"product_id":"sku-2"}'
or with curl:
  curl -X POST -H 'Content-Type: application/json' -d '{"id":3,"product_id":"sku-3"}' http://127.0.0.1:8082/v1/events/order.placed

Each step of the pipeline (payment, email, inventory, audit) runs in whichever
daemon takes it first: watch the [d1] and [d2] lines. Break something:
  kill -9 \$(cat $(pwd)/data/d2.pid)     # a daemon dies: d1 does all the work
  kill \$(cat $(pwd)/data/n2.pid)        # a NATS server goes: the R3 streams carry on

Ctrl-C stops everything.
EOF
wait
