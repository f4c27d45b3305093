//! `GET /docs`: the interactive API reference (Swagger UI, vendored from npm into
//! `crates/server/assets/docs/`, see its README) over `/v1/openapi.json`. Every file is compiled
//! into the binary, and the Content-Security-Policy lets the page load nothing from elsewhere, so
//! the reference works offline and leaks no request to a CDN.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;

/// Same-origin only. Swagger UI sets inline styles and shows inline SVG icons as `data:` URLs.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `(file name, content type, bytes)` of each asset under `/docs/`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/docs/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/docs/swagger-ui.css"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/docs/init.js"),
    ),
];

const PAGE: &str = include_str!("../../assets/docs/index.html");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/docs", get(page))
        .route("/docs/{file}", get(asset))
}

async fn page() -> Response {
    served("text/html; charset=utf-8", PAGE.as_bytes(), "no-cache")
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::not_found("file"))?;
    // The files change only with the binary; an hour's caching spares reloads.
    Ok(served(content_type, bytes, "public, max-age=3600"))
}

fn served(content_type: &'static str, body: &'static [u8], cache: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}
