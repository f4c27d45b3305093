#!/usr/bin/env python3
"""Verifies requests that `switchyard send` produced, with the providers' own libraries.

Input (argv[1]): a JSON list of captured requests
  {"scheme", "secret", "method", "url", "headers": {name: value}, "body": str}
as a local server received them, plus "expect": "reject" on control copies with a changed
body. Prints one line per request and exits 1 if any verdict differs from the expected one, 3 if a library is not installed (the caller decides whether that is a failure).

Libraries (pinned in requirements.txt beside this file): stripe, slack_sdk, twilio,
standardwebhooks, svix, paddle-python-sdk, squareup, hubspot-api-client.
"""
import json
import sys
import time
from urllib.parse import parse_qsl


class Headers(dict):
    """Case-insensitive lookup, as a web framework gives it."""

    def get(self, key, default=None):
        for k, v in self.items():
            if k.lower() == key.lower():
                return v
        return default


def stripe_ok(c, h):
    import stripe
    stripe.WebhookSignature.verify_header(c["body"], h.get("Stripe-Signature"), c["secret"], tolerance=300)
    return True


def slack_ok(c, h):
    from slack_sdk.signature import SignatureVerifier
    return SignatureVerifier(c["secret"]).is_valid_request(c["body"], dict(h))


def twilio_ok(c, h):
    from twilio.request_validator import RequestValidator
    ctype = (h.get("Content-Type") or "").split(";")[0].strip()
    params = dict(parse_qsl(c["body"], keep_blank_values=True)) if ctype == "application/x-www-form-urlencoded" else c["body"]
    return RequestValidator(c["secret"]).validate(c["url"], params, h.get("X-Twilio-Signature"))


def standard_webhooks_ok(c, h):
    from standardwebhooks.webhooks import Webhook as Std
    from svix.webhooks import Webhook as Svix
    Std(c["secret"]).verify(c["body"], dict(h))
    Svix(c["secret"]).verify(c["body"], dict(h))
    return True


def square_ok(c, h):
    from square.utils.webhooks_helper import verify_signature
    return verify_signature(request_body=c["body"], signature_header=h.get("x-square-hmacsha256-signature"),
                            signature_key=c["secret"], notification_url=c["url"])


def paddle_ok(c, h):
    from paddle_billing.Notifications import Secret, Verifier

    class Request:
        headers = h
        body = c["body"].encode("utf-8")

    return Verifier(maximum_variance=300).verify(Request(), Secret(c["secret"])) is True


def hubspot_ok(c, h):
    from hubspot.utils.signature import Signature
    return Signature.is_valid(signature=h.get("X-HubSpot-Signature-v3"), client_secret=c["secret"],
                              request_body=c["body"], http_uri=c["url"], http_method=c["method"],
                              signature_version="v3", timestamp=h.get("X-HubSpot-Request-Timestamp"))


CHECKS = {
    "stripe": stripe_ok,
    "slack": slack_ok,
    "twilio": twilio_ok,
    "standard-webhooks": standard_webhooks_ok,
    "square": square_ok,
    "paddle": paddle_ok,
    "hubspot": hubspot_ok,
}


def main():
    cases = json.load(open(sys.argv[1]))
    failed = 0
    for c in cases:
        if c["scheme"] not in CHECKS:
            continue  # checked by another library (verify_sent_octokit.mjs)
        h = Headers(c["headers"])
        try:
            ok = CHECKS[c["scheme"]](c, h)
        except ImportError as e:
            print(f"{c['scheme']}: library missing: {e}")
            sys.exit(3)
        except Exception as e:  # each library raises its own verification error type
            ok, why = False, f"{type(e).__name__}: {e}"
        else:
            why = ""
        want = c.get("expect", "ok") == "ok"
        print(f"{c['scheme']} {c.get('label', '')}: {'ok' if ok else 'rejected ' + why}"
              f"{'' if ok == want else '  <- WRONG VERDICT'}")
        failed += ok != want
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
