#!/usr/bin/env bash
# A local Footfall cluster on loopback, for trying things out and for tests.
#
#   Cluster/cluster.sh start [N]   build, create a CA and certificates, start N nodes (default 3)
#   Cluster/cluster.sh status      `footfall cluster status` through node-1
#   Cluster/cluster.sh ring        `footfall cluster ring` through node-1
#   Cluster/cluster.sh kill NAME   kill -9 one node (to watch the others mark it dead)
#   Cluster/cluster.sh restart NAME   start a stopped or killed node again (a new incarnation)
#   Cluster/cluster.sh stop        SIGTERM every node (each leaves gracefully)
#
# Node i listens for HTTP on 127.0.0.1:(8080+i), public gRPC on (8090+i) and internally on
# 127.0.0.1:(7946+i); node-1
# bootstraps the cluster, the others join through it. Everything lives in $FOOTFALL_CLUSTER_DIR
# (default Cluster/run): certs/ (the CA, one certificate per node, operator "admin"), node-i/
# (data) and node-i.log. Set FOOTFALL_BIN to use a built binary instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${FOOTFALL_CLUSTER_DIR:-Cluster/run}"
bin="${FOOTFALL_BIN:-.build/release/footfall}"
certs="$dir/certs"

build() {
  if [ -z "${FOOTFALL_BIN:-}" ]; then make --no-print-directory deps >/dev/null; swift build -c release --product footfall >&2; fi
}

http_port() { echo $((8080 + ${1#node-})); }
cluster_port() { echo $((7946 + ${1#node-})); }

start_node() {
  local name=$1 index=${1#node-}
  local join=()
  if [ "$index" != 1 ]; then join=(--join "127.0.0.1:$(cluster_port node-1)"); fi
  mkdir -p "$dir/$name"
  FOOTFALL_PROBE_INTERVAL_MS="${FOOTFALL_PROBE_INTERVAL_MS:-1000}" \
  nohup "$bin" serve --data "$dir/$name" --node-name "$name" --port "$(http_port "$name")" \
    --cluster-port "$(cluster_port "$name")" --grpc-port $((8090 + index)) --certs "$certs" "${join[@]}" >>"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
  echo "started $name (pid $!, http 127.0.0.1:$(http_port "$name"), internal 127.0.0.1:$(cluster_port "$name"))"
}

cli() { "$bin" cluster "$@" --node "127.0.0.1:$(cluster_port node-1)" --certs "$certs" --as admin; }

case "${1:-}" in
  start)
    count="${2:-3}"
    build
    mkdir -p "$dir"
    if [ ! -f "$certs/ca.pem" ]; then
      "$bin" certs init --dir "$certs" --cluster-name local
      "$bin" certs operator admin --dir "$certs"
    fi
    for i in $(seq 1 "$count"); do
      [ -f "$certs/node-$i.pem" ] || "$bin" certs node "node-$i" --dir "$certs"
    done
    for i in $(seq 1 "$count"); do
      start_node "node-$i"
      [ "$i" = 1 ] && sleep 1
    done
    sleep 3
    cli status
    ;;
  status) cli status ;;
  ring) cli ring ;;
  kill)
    kill -9 "$(cat "$dir/$2.pid")" && echo "killed $2 (kill -9)"
    ;;
  restart) start_node "$2" ;;
  stop)
    for pidfile in "$dir"/node-*.pid; do
      [ -f "$pidfile" ] || continue
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    done
    echo "stopped"
    ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
