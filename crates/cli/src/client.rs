//! A small client for the management API, used by commands that talk to a running server.
//! API errors are shown as the server's own code and message, with its request id.

use serde_json::Value;

use crate::cli::ServerArgs;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("{status} {code}: {message} (request id {request_id})")]
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: String,
        /// The error's `details` (e.g. `fields` of a refused definition).
        details: Value,
    },
    #[error("the server answered {status} with a body that is not the API's JSON")]
    Unexpected { status: u16 },
}

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl ApiClient {
    pub fn new(args: &ServerArgs) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("switchyard-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: args.url.clone(),
                source,
            })?;
        Ok(ApiClient {
            http,
            base: args.url.trim_end_matches('/').to_string(),
            key: args.key.clone(),
        })
    }

    /// GET `path` with `query`, returning the JSON body of a 2xx answer.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(&url).query(query), url).await
    }

    /// POST `body` as JSON to `path`, returning the JSON body of a 2xx answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.post(&url).json(body), url).await
    }

    /// Follows a server-sent-events `path`, calling `each(event, data)` per message until the
    /// server ends the stream (or `each` returns false).
    pub async fn follow(
        &self,
        path: &str,
        query: &[(&str, String)],
        mut each: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), ClientError> {
        let url = format!("{}{path}", self.base);
        // No overall timeout: the stream lasts as long as the user wants it to.
        let http = reqwest::Client::builder()
            .user_agent(concat!("switchyard-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let unreachable = |source| ClientError::Unreachable {
            url: url.clone(),
            source,
        };
        let mut resp = http
            .get(&url)
            .query(query)
            .bearer_auth(&self.key)
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(api_error(status, resp.json().await.unwrap_or(Value::Null)));
        }
        let mut buf = String::new();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let (mut event, mut data) = ("message".to_string(), String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty() && !each(&event, &data) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn send(&self, req: reqwest::RequestBuilder, url: String) -> Result<Value, ClientError> {
        let resp = req
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.map_err(|_| ClientError::Unexpected { status })?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(api_error(status, body))
    }
}

/// The API's error envelope as a [`ClientError`].
fn api_error(status: u16, body: Value) -> ClientError {
    let err = &body["error"];
    let text = |k: &str| err[k].as_str().unwrap_or("").to_string();
    if err.is_object() {
        ClientError::Api {
            status,
            code: text("code"),
            message: text("message"),
            request_id: text("request_id"),
            details: err["details"].clone(),
        }
    } else {
        ClientError::Unexpected { status }
    }
}
