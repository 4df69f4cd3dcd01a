#!/usr/bin/env bash
# Make sure the Redis server the tests use (the job queue of tests/test_multimachine.py) is
# running on 127.0.0.1:6379; start it if it is installed but stopped; fail loudly if it cannot be
# used. Redis tests never skip, so this exits non-zero rather than carry on.
set -euo pipefail
host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}

answers() { redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; }

if ! command -v redis-cli >/dev/null 2>&1; then
  echo "FATAL: redis-cli not found: the tests need a Redis server (Debian: apt-get install redis-server)" >&2
  exit 1
fi
if ! answers; then
  echo "Redis is not answering on $host:$port; starting it" >&2
  # Nothing kept on disk: the tests' queues are emptied by the tests themselves.
  redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
    --dir /tmp --logfile "/tmp/tracker-redis-$port.log" || true
  for _ in $(seq 1 30); do
    answers && break
    sleep 1
  done
fi
if ! answers; then
  echo "FATAL: cannot use Redis at $host:$port" >&2
  exit 1
fi
echo "Redis is up at $host:$port"
