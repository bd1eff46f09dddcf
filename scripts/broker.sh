#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/bench-pipeline.sh: start_broker starts Tansu on 127.0.0.1 on a free port with
# durable SQLite storage in a temporary folder and sets $port, $broker_dir and $broker_pid; stop_broker (installed as
# the EXIT trap) stops it whatever happens.

start_broker() {
    broker_dir=$(mktemp -d -t kessler-broker.XXXXXX)
    broker_pid=""
    stop_broker() {
        if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
            kill "$broker_pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$broker_pid" 2>/dev/null || true
        fi
        rm -rf "$broker_dir"
    }
    trap stop_broker EXIT INT TERM

    port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
    port=""
    for _ in $(seq 50); do
        candidate=$((20000 + RANDOM % 30000))
        if port_free "$candidate"; then port=$candidate; break; fi
    done
    [ -n "$port" ] || { echo "no free port found on 127.0.0.1" >&2; exit 1; }

    log "starting Tansu on 127.0.0.1:$port (storage: $broker_dir/tansu.db)"
    # Tansu resolves a sqlite:// path against its working directory, so it runs inside the temporary folder.
    (cd "$broker_dir" && exec tansu broker \
        --cluster-id kessler-test \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "sqlite://tansu.db" \
        >"$broker_dir/broker.log" 2>&1) &
    broker_pid=$!
    for _ in $(seq 100); do
        if ! port_free "$port"; then break; fi
        if ! kill -0 "$broker_pid" 2>/dev/null; then
            echo "Tansu exited at start; its log:" >&2; cat "$broker_dir/broker.log" >&2; exit 1
        fi
        sleep 0.2
    done
    if port_free "$port"; then
        echo "Tansu did not listen on $port within 20 s; its log:" >&2; cat "$broker_dir/broker.log" >&2; exit 1
    fi
}
