#!/usr/bin/env bash
# form-to-crm, end to end on this machine: starts the fake HubSpot, OAuth2 token and Slack
# services, starts Switchyard with switchyard.yaml (SQLite in a temporary directory), submits a
# website form, and shows the run step by step and what the fakes received.
#
#   examples/form-to-crm/run.sh          # from the repository root
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p switchyard -p switchyard-testkit --bin switchyard --bin fake-providers

work=$(mktemp -d)
cleanup() { kill "${fakes_pid:-}" "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

FAKES=127.0.0.1:4010
./target/release/fake-providers --listen "$FAKES" > "$work/fakes.log" 2>&1 &
fakes_pid=$!

export HUBSPOT_BASE_URL="http://$FAKES"
export HUBSPOT_TOKEN_URL="http://$FAKES/oauth/token"
export HUBSPOT_CLIENT_ID=switchyard-test
export HUBSPOT_CLIENT_SECRET=CLIENT_SECRET_fake_0123
export SLACK_WEBHOOK_URL="http://$FAKES/slack/services/T000/B000/XXXXXXXX"
export SWITCHYARD_DATABASE_URL="sqlite://$work/switchyard.db"
export SWITCHYARD_BOOTSTRAP_KEY=example-admin-key-0123456789abcdef

./target/release/switchyard serve --listen 127.0.0.1:8080 --config examples/form-to-crm/switchyard.yaml \
  --allow-destinations 127.0.0.0/8 > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/readyz >/dev/null && break; sleep 0.1; done

echo "== a website form is submitted"
curl -s http://127.0.0.1:8080/in/website-form \
  -H 'content-type: application/x-www-form-urlencoded' \
  --data 'submission_id=s-1&email=ada%40example.com&first_name=Ada&last_name=Lovelace&company=Analytical'
echo
sleep 1
echo "== the run"
export SWITCHYARD_KEY=$SWITCHYARD_BOOTSTRAP_KEY SWITCHYARD_URL=http://127.0.0.1:8080
run=$(./target/release/switchyard runs list --json | sed -n 's/.*"id":"\(run_[^"]*\)".*/\1/p' | head -1)
./target/release/switchyard runs show "$run"
echo "== what the fake HubSpot and Slack received"
curl -s "http://$FAKES/_fakes/state"
echo
