# Shared by the examples' run.sh scripts: build, start the fake providers and a Switchyard on
# SQLite in a temporary directory, apply the example's switchyard.yaml with `switchyard apply`,
# and clean up on exit. Source it from the repository root.
set -euo pipefail
cargo build --release -p switchyard -p switchyard-testkit --bin switchyard --bin fake-providers

work=$(mktemp -d)
cleanup() { kill "${fakes_pid:-}" "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

SY=./target/release/switchyard
FAKES=127.0.0.1:4010
./target/release/fake-providers --listen "$FAKES" > "$work/fakes.log" 2>&1 &
fakes_pid=$!

export SWITCHYARD_DATABASE_URL="sqlite://$work/switchyard.db"
export SWITCHYARD_BOOTSTRAP_KEY=example-admin-key-0123456789abcdef
export SWITCHYARD_URL=http://127.0.0.1:8080 SWITCHYARD_KEY=$SWITCHYARD_BOOTSTRAP_KEY

# start_switchyard: serve with no config file; the example is applied afterwards.
start_switchyard() {
  $SY serve --listen 127.0.0.1:8080 --allow-destinations 127.0.0.0/8 > "$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/readyz >/dev/null && break; sleep 0.1; done
}

# apply_example DIR: show the plan, then apply it.
apply_example() {
  echo "== switchyard apply --dry-run"
  $SY apply -f "$1/switchyard.yaml" --dry-run
  echo "== switchyard apply"
  $SY apply -f "$1/switchyard.yaml"
}

# show_last_run: the newest run, step by step.
show_last_run() {
  sleep 1
  local run
  run=$($SY runs list --json | sed -n 's/.*"id":"\(run_[^"]*\)".*/\1/p' | head -1)
  $SY runs show "$run"
}
