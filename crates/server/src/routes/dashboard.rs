//! The dashboard (SPEC §5): static files compiled into the binary (`crates/server/dashboard/`,
//! plain HTML, CSS and JavaScript modules — no build step, nothing from a CDN). It signs in with
//! an API key kept in the browser's session storage and calls `/v1` like any client, so every
//! action is bound by the key's scope on the server. A strict content security policy lets the
//! page load only its own files and talk only to its own origin.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

macro_rules! asset {
    ($name:literal) => {
        ($name, include_bytes!(concat!("../../dashboard/js/", $name)).as_slice())
    };
}

/// The modules under `/js/`, by file name.
const SCRIPTS: &[(&str, &[u8])] = &[
    asset!("alerts.js"),
    asset!("api.js"),
    asset!("app.js"),
    asset!("charts.js"),
    asset!("dom.js"),
    asset!("endpoints.js"),
    asset!("event.js"),
    asset!("events.js"),
    asset!("flows.js"),
    asset!("overview.js"),
    asset!("quarantine.js"),
    asset!("router.js"),
];

fn file(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The files change with the binary; a browser asks again rather than run a stale page.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

pub async fn index() -> Response {
    file("text/html; charset=utf-8", include_bytes!("../../dashboard/index.html"))
}

pub async fn stylesheet() -> Response {
    file("text/css; charset=utf-8", include_bytes!("../../dashboard/app.css"))
}

pub async fn script(Path(name): Path<String>) -> Result<Response, ApiError> {
    SCRIPTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, body)| file("text/javascript; charset=utf-8", body))
        .ok_or_else(|| ApiError::not_found("dashboard file"))
}

#[cfg(test)]
mod tests {
    /// A module on disk but not compiled in would break the page (its import fails): every
    /// file of `dashboard/js` must be listed, and every listed one must exist.
    #[test]
    fn every_module_on_disk_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard/js");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let listed: Vec<String> = super::SCRIPTS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, listed);
    }
}
