//! What a notification says, decided once when the rule changes state (the stored body), and
//! how each channel puts it: the body itself for a webhook, a line of text for Slack, a mail.

use serde_json::{Value, json};
use switchyard_core::time::to_rfc3339;

/// One thing a rule holds for.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// `endpoint`, `source`, `flow`, `destination` or `queue`.
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    /// The dashboard page for it (a hash route of the dashboard).
    pub page: String,
}

/// The stored body of a notification: `state` is `firing` or `resolved`.
#[allow(clippy::too_many_arguments)]
pub fn body(
    state: &str,
    alert_id: &str,
    alert_name: &str,
    rule: &Value,
    what: &str,
    places: &[Place],
    since: i64,
    now: i64,
    public_url: &str,
) -> Value {
    let page = places
        .first()
        .map_or_else(|| "#/alerts".to_string(), |p| p.page.clone());
    json!({
        "type": format!("alert.{state}"),
        "state": state,
        "alert": {"id": alert_id, "name": alert_name, "rule": rule},
        "what": what,
        "where": places.iter().map(|p| json!({"kind": p.kind, "id": p.id, "name": p.name})).collect::<Vec<_>>(),
        "since": to_rfc3339(since),
        "resolved_at": (state == "resolved").then(|| to_rfc3339(now)),
        "at": to_rfc3339(now),
        "dashboard_url": format!("{}/{page}", public_url.trim_end_matches('/')),
    })
}

fn field<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key].as_str().unwrap_or("")
}

fn places_text(body: &Value) -> String {
    let names: Vec<String> = body["where"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        p["kind"].as_str().unwrap_or(""),
                        p["name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() { "-".into() } else { names.join(", ") }
}

/// The one-line summary every channel leads with.
pub fn headline(body: &Value) -> String {
    let state = field(body, "state").to_uppercase();
    format!(
        "[{state}] {}: {}",
        body["alert"]["name"].as_str().unwrap_or(""),
        field(body, "what")
    )
}

/// A Slack incoming webhook's message: `text` (what notifications and old clients show) with
/// the link in Slack's `<url|label>` form.
pub fn slack(body: &Value) -> Value {
    let since = match field(body, "state") {
        "resolved" => format!(
            "firing since {}, resolved at {}",
            field(body, "since"),
            field(body, "resolved_at")
        ),
        _ => format!("since {}", field(body, "since")),
    };
    json!({
        "text": format!(
            "{}\nWhere: {}\n{since}\n<{}|Open in Switchyard>",
            headline(body),
            places_text(body),
            field(body, "dashboard_url"),
        )
    })
}

/// A mail's subject and plain-text body.
pub fn mail(body: &Value) -> (String, String) {
    let mut text = format!(
        "{}\n\nWhat: {}\nWhere: {}\nSince: {}\n",
        headline(body),
        field(body, "what"),
        places_text(body),
        field(body, "since")
    );
    if field(body, "state") == "resolved" {
        text.push_str(&format!("Resolved at: {}\n", field(body, "resolved_at")));
    }
    text.push_str(&format!("\nOpen in Switchyard: {}\n", field(body, "dashboard_url")));
    (format!("[Switchyard] {}", headline(body)), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_says_what_where_since_and_links() {
        let places = [Place {
            kind: "endpoint",
            id: "ep_1".into(),
            name: "billing".into(),
            page: "#/endpoints".into(),
        }];
        let b = body(
            "firing",
            "alr_1",
            "billing-failing",
            &json!({"kind": "failure_ratio"}),
            "failure ratio 60% (6 of 10) ≥ 50% over 300 s",
            &places,
            1_700_000_000_000_000,
            1_700_000_001_000_000,
            "http://ops.example.com/",
        );
        assert_eq!(b["type"], "alert.firing");
        assert_eq!(b["dashboard_url"], "http://ops.example.com/#/endpoints");
        assert_eq!(b["where"][0]["name"], "billing");
        assert!(b["resolved_at"].is_null());
        let s = slack(&b)["text"].as_str().unwrap().to_string();
        assert!(s.starts_with("[FIRING] billing-failing: failure ratio 60%"), "{s}");
        assert!(
            s.contains("endpoint billing") && s.contains("<http://ops.example.com/#/endpoints|Open in Switchyard>")
        );
        let (subject, text) = mail(&b);
        assert_eq!(
            subject,
            "[Switchyard] [FIRING] billing-failing: failure ratio 60% (6 of 10) ≥ 50% over 300 s"
        );
        assert!(text.contains("Since: 2023-11-14T22:13:20"), "{text}");
        let r = body("resolved", "alr_1", "x", &json!({}), "w", &[], 1, 2_000_000, "http://h");
        assert_eq!(r["dashboard_url"], "http://h/#/alerts");
        assert!(mail(&r).1.contains("Resolved at: "));
    }
}
