#!/usr/bin/env bash
# typeform-to-mailchimp, end to end on this machine: the fake Mailchimp API, a Switchyard with
# the example applied, and a Typeform-signed form response (Typeform-Signature), sent twice:
# the second PUT updates the same member.
#
#   examples/typeform-to-mailchimp/run.sh          # from the repository root
cd "$(dirname "$0")/../.."
. examples/lib.sh

export TYPEFORM_SECRET=typeform-example-secret
export MAILCHIMP_BASE_URL="http://$FAKES/3.0" MAILCHIMP_API_KEY=fakekey0123456789abcdef-us21
export MAILCHIMP_LIST_ID=a1b2c3d4e5
start_switchyard
apply_example examples/typeform-to-mailchimp

echo "== Typeform sends a form response"
$SY send --scheme typeform --secret "$TYPEFORM_SECRET" --url http://127.0.0.1:8080/in/typeform \
  --data @examples/typeform-to-mailchimp/form_response.json
echo
show_last_run
echo "== what Mailchimp holds (member id = md5 of the lower-cased email)"
curl -s "http://$FAKES/_fakes/state"
echo
