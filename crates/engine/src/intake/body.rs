//! What a body is, by its content type and the source's `accept`: JSON (parsed whole), a form
//! (`application/x-www-form-urlencoded`, read as a JSON object of its fields so type, dedup key and
//! schema work on it), or, with `accept: any`, whatever arrived. The raw bytes are stored either
//! way; this only decides whether the body is taken and what JSON view rules see.

use serde_json::{Map, Value};
use switchyard_core::source::Accept;

use super::IntakeError;

/// The JSON view of an accepted body (`None`: accepted, but nothing JSON to look at).
pub(super) fn json_view(accept: Accept, content_type: Option<&str>, body: &[u8]) -> Result<Option<Value>, IntakeError> {
    let ct = content_type.unwrap_or("");
    match (MediaType::of(ct), accept) {
        // Stored whatever it holds; JSON only helps find the type and id.
        (MediaType::Json, Accept::Any) => Ok(parse_json(body).ok()),
        (MediaType::Json, Accept::Json | Accept::JsonOrForm) => parse_json(body).map(Some),
        (MediaType::Form, Accept::Any | Accept::JsonOrForm) => Ok(Some(form_view(body))),
        (_, Accept::Any) => Ok(None),
        (_, Accept::Json | Accept::JsonOrForm) => Err(IntakeError::UnsupportedMediaType {
            got: ct.to_string(),
            accepted: accepted_types(accept),
        }),
    }
}

/// The body kinds intake reads, from a content type's essence (parameters and case ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    /// `application/json` or any `application/*+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    Other,
}

impl MediaType {
    fn of(ct: &str) -> Self {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
            MediaType::Json
        } else if essence == "application/x-www-form-urlencoded" {
            MediaType::Form
        } else {
            MediaType::Other
        }
    }
}

/// The JSON view of a stored payload, whatever the source accepts now: JSON as parsed, a form as
/// its fields, anything else `None`. Views and re-validation use it, so they see what intake saw.
pub fn payload_view(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    json_view(Accept::Any, content_type, body).ok().flatten()
}

/// Whether a content type is a form (`application/x-www-form-urlencoded`).
pub fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| MediaType::of(ct) == MediaType::Form)
}

/// What a `415` tells the sender this source takes.
fn accepted_types(accept: Accept) -> &'static str {
    match accept {
        Accept::Json => "application/json",
        Accept::JsonOrForm => "application/json or application/x-www-form-urlencoded",
        Accept::Any => "any content type",
    }
}

/// Parses the whole body as JSON (a shortcut that stopped early would accept trailing garbage).
pub(super) fn parse_json(body: &[u8]) -> Result<Value, IntakeError> {
    serde_json::from_slice(body).map_err(|e| IntakeError::InvalidJson(e.to_string()))
}

/// A form as a JSON object of its fields (a repeated field becomes an array, in order). A
/// `payload` field holding a JSON object — how GitHub's form hooks and Slack's interactivity send
/// their JSON — is that JSON itself.
fn form_view(body: &[u8]) -> Value {
    let mut fields = Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        let v = Value::String(v.into_owned());
        match fields.get_mut(k.as_ref()) {
            Some(Value::Array(list)) => list.push(v),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, v]);
            }
            None => {
                fields.insert(k.into_owned(), v);
            }
        }
    }
    if let Some(Value::String(p)) = fields.get("payload")
        && let Ok(inner @ Value::Object(_)) = serde_json::from_str::<Value>(p)
    {
        return inner;
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_media_types() {
        assert_eq!(MediaType::of("application/json"), MediaType::Json);
        assert_eq!(MediaType::of("Application/JSON; charset=utf-8"), MediaType::Json);
        assert_eq!(MediaType::of("application/cloudevents+json"), MediaType::Json);
        assert_eq!(MediaType::of("text/plain"), MediaType::Other);
        assert_eq!(
            MediaType::of("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
            MediaType::Form
        );
    }

    #[test]
    fn probes_type_and_rejects_broken_json() {
        assert!(parse_json(br#"{"type":"a.b","x":[1]}"#).is_ok());
        assert!(parse_json(b"[1,2]").is_ok());
        assert!(matches!(parse_json(b"{\"a\":"), Err(IntakeError::InvalidJson(_))));
        assert!(matches!(parse_json(b""), Err(IntakeError::InvalidJson(_))));
        assert!(matches!(parse_json(b"5 garbage"), Err(IntakeError::InvalidJson(_))));
        assert!(matches!(parse_json(b"[1,2] x"), Err(IntakeError::InvalidJson(_))));
    }

    #[test]
    fn forms_are_read_as_their_fields() {
        let form = "application/x-www-form-urlencoded; charset=utf-8";
        let tw = json_view(
            Accept::JsonOrForm,
            Some(form),
            b"MessageSid=SM1&Body=hi+there&To=%2B1&To=%2B2",
        )
        .unwrap();
        assert_eq!(
            tw,
            Some(json!({"MessageSid": "SM1", "Body": "hi there", "To": ["+1", "+2"]}))
        );
        let gh = json_view(
            Accept::JsonOrForm,
            Some(form),
            b"payload=%7B%22action%22%3A%22opened%22%7D",
        )
        .unwrap();
        assert_eq!(gh, Some(json!({"action": "opened"})));
        // JSON-only sources refuse forms, saying what they take.
        let err = json_view(Accept::Json, Some(form), b"a=1").unwrap_err();
        assert!(err.to_string().contains("application/json"), "{err}");
        assert!(json_view(Accept::JsonOrForm, Some("text/plain"), b"x").is_err());
        assert_eq!(json_view(Accept::Any, Some("text/plain"), b"x").unwrap(), None);
        assert!(json_view(Accept::JsonOrForm, Some("application/json"), b"{").is_err());
    }
}
