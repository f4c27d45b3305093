#!/usr/bin/env bash
# nightly-report, end to end on this machine: the fake report webhook, a Switchyard with the
# example applied (cron 0 2 * * * Europe/Berlin), the next planned firings, and one run started
# by hand in place of tonight's tick.
#
#   examples/nightly-report/run.sh          # from the repository root
cd "$(dirname "$0")/../.."
. examples/lib.sh

export SWITCHYARD_API_URL=http://127.0.0.1:8080 REPORT_API_KEY=$SWITCHYARD_BOOTSTRAP_KEY
export REPORT_WEBHOOK_URL="http://$FAKES/reports/ops"
start_switchyard
apply_example examples/nightly-report

echo "== the flow and its next firings"
$SY flows show nightly-report
echo "== a run now, in place of tonight's tick"
curl -s -X POST "$SWITCHYARD_URL/v1/flows/nightly-report/runs" -H "authorization: Bearer $SWITCHYARD_KEY" \
  -H 'content-type: application/json' -d '{"payload": {"scheduled_at": "now (by hand)"}}'
echo
show_last_run
echo "== what the report webhook received"
curl -s "http://$FAKES/_fakes/state"
echo
