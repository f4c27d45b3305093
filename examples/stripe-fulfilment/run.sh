#!/usr/bin/env bash
# stripe-fulfilment, end to end on this machine: the fake fulfilment API and SendGrid, a
# Switchyard with the example applied, and a Stripe-signed checkout.session.completed event.
#
#   examples/stripe-fulfilment/run.sh          # from the repository root
cd "$(dirname "$0")/../.."
. examples/lib.sh

export STRIPE_WEBHOOK_SECRET=whsec_example_0123456789
export FULFILMENT_BASE_URL="http://$FAKES" FULFILMENT_TOKEN=ful_live_fake_token_42
export SENDGRID_BASE_URL="http://$FAKES" SENDGRID_API_KEY=SG.fake_key_0123456789
start_switchyard
apply_example examples/stripe-fulfilment

echo "== Stripe sends checkout.session.completed (signed with Stripe-Signature)"
$SY send --scheme stripe --secret "$STRIPE_WEBHOOK_SECRET" --url http://127.0.0.1:8080/in/stripe \
  --data @examples/stripe-fulfilment/checkout.session.completed.json
echo
show_last_run
echo "== what the fulfilment API and SendGrid received"
curl -s "http://$FAKES/_fakes/state"
echo
