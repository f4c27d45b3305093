//! An event's type, read where each provider puts it, so listings can filter on it and sources can
//! allow-list it. Falls back to a top-level string `type` in the body.

use serde_json::Value;
use switchyard_core::source::Scheme;

const MAX_TYPE_LEN: usize = 200;

pub fn event_type<'h>(
    scheme: Scheme,
    header: impl Fn(&str) -> Option<&'h str>,
    json: Option<&Value>,
) -> Option<String> {
    let body_str = |path: &str| {
        json.and_then(|v| v.pointer(path))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let found = match scheme {
        Scheme::Github => header("x-github-event").map(str::to_string),
        Scheme::Shopify => header("x-shopify-topic").map(str::to_string),
        Scheme::Slack if body_str("/type").as_deref() == Some("event_callback") => body_str("/event/type"),
        Scheme::Zoom => body_str("/event"),
        Scheme::Paddle | Scheme::Typeform => body_str("/event_type"),
        Scheme::Hubspot => body_str("/0/subscriptionType"),
        _ => None,
    }
    .or_else(|| body_str("/type"));
    found
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(MAX_TYPE_LEN).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provider_specific_locations() {
        let gh = |h: &str| (h == "x-github-event").then_some("pull_request");
        assert_eq!(
            event_type(Scheme::Github, gh, Some(&json!({"action": "opened"}))).as_deref(),
            Some("pull_request")
        );
        let slack = json!({"type": "event_callback", "event": {"type": "app_mention"}});
        assert_eq!(
            event_type(Scheme::Slack, |_| None, Some(&slack)).as_deref(),
            Some("app_mention")
        );
        let hs = json!([{"subscriptionType": "contact.creation"}]);
        assert_eq!(
            event_type(Scheme::Hubspot, |_| None, Some(&hs)).as_deref(),
            Some("contact.creation")
        );
        assert_eq!(
            event_type(Scheme::Stripe, |_| None, Some(&json!({"type": "charge.succeeded"}))).as_deref(),
            Some("charge.succeeded")
        );
        assert_eq!(event_type(Scheme::None, |_| None, Some(&json!({"type": 5}))), None);
    }
}
