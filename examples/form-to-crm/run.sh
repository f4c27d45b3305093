#!/usr/bin/env bash
# form-to-crm, end to end on this machine: starts the fake HubSpot, OAuth2 token and Slack
# services and a Switchyard (SQLite in a temporary directory), applies switchyard.yaml with
# `switchyard apply`, submits a website form, and shows the run step by step and what the fakes
# received.
#
#   examples/form-to-crm/run.sh          # from the repository root
cd "$(dirname "$0")/../.."
. examples/lib.sh

export HUBSPOT_BASE_URL="http://$FAKES"
export HUBSPOT_TOKEN_URL="http://$FAKES/oauth/token"
export HUBSPOT_CLIENT_ID=switchyard-test
export HUBSPOT_CLIENT_SECRET=CLIENT_SECRET_fake_0123
export SLACK_WEBHOOK_URL="http://$FAKES/slack/services/T000/B000/XXXXXXXX"
start_switchyard
apply_example examples/form-to-crm

echo "== a website form is submitted"
curl -s http://127.0.0.1:8080/in/website-form \
  -H 'content-type: application/x-www-form-urlencoded' \
  --data 'submission_id=s-1&email=ada%40example.com&first_name=Ada&last_name=Lovelace&company=Analytical'
echo
show_last_run
echo "== what the fake HubSpot and Slack received"
curl -s "http://$FAKES/_fakes/state"
echo
