#!/usr/bin/env bash
# Time `make run` on a fresh clone with a fresh venv: seconds from typing it to
# the first 200 from /v1/health (TARGETS.md: within 45 s), with the install's
# share; then Ctrl-C (SIGINT to its process group) must stop it and free the port.
# usage: dev/time_make_run.sh [repository]   (default: this one's committed HEAD)
#        PIP_NO_CACHE_DIR=1 dev/time_make_run.sh   for pip without its cache
set -u
src=${1:-$(git rev-parse --show-toplevel)}
d=$(mktemp -d)
git clone -q "$src" "$d/clone"
cd "$d/clone"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
PORT=$port setsid make run >"$d/run.log" 2>&1 &
pid=$!
code=000
installed=
deadline=$(( $(date +%s) + 300 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/health" || true)
  [ "$code" = 200 ] && break
  if [ -z "$installed" ] && [ -e .venv/.run-installed ]; then installed=$(date +%s.%N); fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
end=$(date +%s.%N)
echo "first health answer: $code after $(python3 -c "print(round($end-$start,1))") s," \
  "installed after $(python3 -c "print(round(${installed:-$end}-$start,1))") s (log: $d/run.log)"
kill -INT -- -$pid 2>/dev/null
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then echo "make run still running after Ctrl-C"; kill -KILL -- -$pid; fi
if curl -s -o /dev/null "http://127.0.0.1:$port/v1/health"; then echo "port $port still answering"; else echo "stopped; port $port free"; fi
