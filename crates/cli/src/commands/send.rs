//! `switchyard send`: a correctly signed test webhook for any scheme, the sandbox tool for trying
//! a source (ours or anyone's) without the provider. It signs exactly as the provider would.

use serde_json::{Map, Value, json};
use switchyard_core::source::VerifySpec;
use switchyard_core::verify::{Outgoing, sign, twilio_json_url};

use super::CmdError;
use crate::cli::SendArgs;

pub async fn run(args: SendArgs) -> Result<(), CmdError> {
    let msg = |m: String| CmdError::Message(m);
    let body = match args.data.strip_prefix('@') {
        Some(path) => std::fs::read(path).map_err(|e| msg(format!("cannot read {path}: {e}")))?,
        None => args.data.clone().into_bytes(),
    };
    let mut verify = Map::new();
    verify.insert("scheme".into(), json!(args.scheme));
    for opt in &args.options {
        let (k, v) = opt
            .split_once('=')
            .ok_or_else(|| msg(format!("--option {opt:?} is not key=value")))?;
        verify.insert(k.to_string(), json!(v));
    }
    let spec: VerifySpec =
        serde_json::from_value(Value::Object(verify)).map_err(|e| msg(format!("unknown scheme or option: {e}")))?;
    let is_json = args
        .content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().ends_with("json"));
    let url = if spec.scheme == switchyard_core::source::Scheme::Twilio && is_json {
        twilio_json_url(&args.url, &body)
    } else {
        args.url.clone()
    };
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| switchyard_core::ids::new_id(switchyard_core::ids::IdKind::Message));
    let timestamp = args
        .timestamp
        .unwrap_or_else(|| switchyard_core::time::now_micros().div_euclid(1_000_000));
    let out = Outgoing {
        body: &body,
        timestamp,
        id: &id,
        url: &url,
        method: "POST",
    };
    let signed = sign(&spec, &args.secret, &out).map_err(|e| msg(format!("cannot sign: {e}")))?;
    let http = reqwest::Client::builder()
        .user_agent(concat!("switchyard-send/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| msg(e.to_string()))?;
    let mut req = http
        .post(&url)
        .header("content-type", &args.content_type)
        .body(body.clone());
    for (k, v) in &signed {
        req = req.header(k, v);
    }
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| msg(format!("--header {h:?} is not name:value")))?;
        req = req.header(k.trim(), v.trim());
    }
    let resp = req.send().await.map_err(|e| msg(format!("cannot reach {url}: {e}")))?;
    let status = resp.status().as_u16();
    let answer = resp.text().await.unwrap_or_default();
    if args.json {
        let headers: Map<String, Value> = signed.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        println!(
            "{}",
            json!({"url": url, "signed_headers": headers, "status": status, "response": answer})
        );
    } else {
        for (k, v) in &signed {
            eprintln!("{k}: {v}");
        }
        println!("{status} {answer}");
    }
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(msg(format!("the receiver answered {status}")))
    }
}
