#!/usr/bin/env bash
# Starts a private redis-server for the evaluation queue and prints `export` lines:
#   eval "$(bash scripts/redis_start.sh)"       # start; sets CYCLEQD_REDIS_URL
#   bash scripts/redis_start.sh --stop           # stop the one named by CYCLEQD_REDIS_DIR
# The server listens on 127.0.0.1 only (no Unix socket) on a free port, keeps its data in a
# fresh temporary folder with the append-only file on (fsync every second), and requires a
# random password, which the printed URL carries. Installs Debian's `redis-server` package
# when missing. `CYCLEQD_REDIS_PORT` picks the port (a restart of the same server reuses
# its folder and port: `bash scripts/redis_start.sh --restart`).
# The server also listens with TLS on a second port, with a certificate for `localhost`
# signed by a fresh CA: CYCLEQD_REDIS_TLS_URL (rediss://) and CYCLEQD_REDIS_CA (the CA's PEM,
# for SSL_CERT_FILE).
set -euo pipefail

stop() {
  local dir="$1"
  if [ -f "$dir/redis.pid" ]; then
    local pid
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
}

start_server() {
  local dir="$1"
  redis-server "$dir/redis.conf" >&2
  for _ in $(seq 1 200); do
    redis-cli -h 127.0.0.1 -p "$(cat "$dir/port")" -a "$(cat "$dir/password")" --no-auth-warning ping 2>/dev/null |
      grep -q PONG && return 0
    sleep 0.05
  done
  echo "redis-server did not answer on 127.0.0.1:$(cat "$dir/port"); log: $dir/redis.log" >&2
  exit 1
}

case "${1:-}" in
  --stop)
    dir="${CYCLEQD_REDIS_DIR:?CYCLEQD_REDIS_DIR is not set: nothing to stop}"
    stop "$dir"
    rm -rf "$dir"
    exit 0
    ;;
  --restart)
    # Stops the server (as a crash would: SIGKILL, so only the AOF survives) and starts it
    # again on the same folder and port.
    dir="${CYCLEQD_REDIS_DIR:?CYCLEQD_REDIS_DIR is not set: nothing to restart}"
    [ -f "$dir/redis.pid" ] && kill -9 "$(cat "$dir/redis.pid")" 2>/dev/null || true
    sleep 0.2
    rm -f "$dir/redis.pid"
    start_server "$dir"
    exit 0
    ;;
esac

if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "redis-server is not installed and installing it needs root (apt-get install redis-server)" >&2
    exit 1
  fi
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >&2
fi

dir=$(mktemp -d /tmp/cycleqd-redis.XXXXXX)
port=${CYCLEQD_REDIS_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
tls_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "$port" > "$dir/port"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cycleqd test CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
printf '%s\n' "$password" > "$dir/password"
chmod 600 "$dir/password"
cat > "$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
unixsocket ""
protected-mode yes
requirepass $password
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
appendonly yes
appendfsync everysec
save ""
tls-port $tls_port
tls-cert-file $dir/server.pem
tls-key-file $dir/server.key
tls-ca-cert-file $dir/ca.pem
tls-auth-clients no
CONF
chmod 600 "$dir/redis.conf"
start_server "$dir"
echo "export CYCLEQD_REDIS_URL='redis://default:$password@127.0.0.1:$port/0'"
echo "export CYCLEQD_REDIS_TLS_URL='rediss://default:$password@localhost:$tls_port/0'"
echo "export CYCLEQD_REDIS_CA='$dir/ca.pem'"
echo "export CYCLEQD_REDIS_DIR='$dir'"
