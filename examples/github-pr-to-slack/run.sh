#!/usr/bin/env bash
# github-pr-to-slack, end to end on this machine: the fake Slack webhook, a Switchyard with the
# example applied, and a GitHub-signed pull_request event (X-Hub-Signature-256).
#
#   examples/github-pr-to-slack/run.sh          # from the repository root
cd "$(dirname "$0")/../.."
. examples/lib.sh

export GITHUB_WEBHOOK_SECRET=github-example-secret
export SLACK_WEBHOOK_URL="http://$FAKES/slack/services/T000/B000/XXXXXXXX"
start_switchyard
apply_example examples/github-pr-to-slack

echo "== GitHub sends pull_request (opened)"
$SY send --scheme github --secret "$GITHUB_WEBHOOK_SECRET" --url http://127.0.0.1:8080/in/github \
  --header X-GitHub-Event:pull_request --data @examples/github-pr-to-slack/pull_request.opened.json
echo
show_last_run
echo "== what Slack received"
curl -s "http://$FAKES/_fakes/state"
echo
