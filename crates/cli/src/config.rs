//! The optional YAML config file. `${NAME}` anywhere in a string value is replaced by the
//! environment variable NAME before the file is interpreted; a missing variable is a start-up
//! error that names it and where it was used. `$${` writes a literal `${`.

use std::path::Path;

use serde::Deserialize;
use switchyard_core::declared::{Declared, DeclaredEndpoint};
use switchyard_core::source::SourceSpec;
use yaml_serde::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    /// Outbound endpoints, each identified by its unique `name`.
    #[serde(default)]
    pub endpoints: Vec<DeclaredEndpoint>,
    /// APIs flows call, each identified by its unique `name` (credentials usually `${ENV}`).
    #[serde(default)]
    pub destinations: Vec<switchyard_core::destination::DestinationSpec>,
    /// Flows, each identified by its unique `name`; a changed one becomes a new version.
    #[serde(default)]
    pub flows: Vec<switchyard_core::flow::FlowSpec>,
    /// Alert rules, each identified by its unique `name` (SPEC §5).
    #[serde(default)]
    pub alerts: Vec<switchyard_core::alert::AlertSpec>,
    /// The SMTP server alert mail goes through (`--smtp-url`/`--smtp-from` override it).
    #[serde(default)]
    pub smtp: Option<SmtpSection>,
}

/// `smtp: {url: "smtp://host:587?tls=required", from: "switchyard@example.com"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub url: String,
    pub from: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// The file is not YAML, or not a config file; `at` is the 1-based line and column.
    #[error("{path}{}: {message}", at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Invalid {
        path: String,
        at: Option<(usize, usize)>,
        message: String,
    },
    #[error("config file {path}: environment variable {var} is not set (used at {at})")]
    MissingVar { path: String, var: String, at: String },
    #[error("config file {path}: unterminated ${{…}} at {at}")]
    Unterminated { path: String, at: String },
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown, &|name| std::env::var(name).ok())
    }

    /// Parses config text, resolving `${NAME}` through `env`. An error names the line and
    /// column it was found at.
    pub fn parse(text: &str, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut value: Value = yaml_serde::from_str(text).map_err(|e| invalid(path, &e))?;
        if value.is_null() {
            return Ok(ConfigFile::default());
        }
        interpolate(&mut value, "", path, env)?;
        yaml_serde::from_value(value).map_err(|e| {
            // Substituted values carry no position; the text as written (with `${NAME}` still
            // in it) fails at the same field and says where.
            match yaml_serde::from_str::<ConfigFile>(text) {
                Err(located) if located.location().is_some() => invalid(path, &located),
                _ => invalid(path, &e),
            }
        })
    }

    /// The definitions to apply; the SMTP section configures the server, not the catalog.
    pub fn declared(self) -> Declared {
        Declared {
            sources: self.sources,
            endpoints: self.endpoints,
            destinations: self.destinations,
            flows: self.flows,
            alerts: self.alerts,
        }
    }
}

fn invalid(path: &str, e: &yaml_serde::Error) -> ConfigError {
    let at = e.location().map(|l| (l.line(), l.column()));
    let mut message = e.to_string();
    // The position is shown as `file:line:column`; the library's own suffix would repeat it.
    if let Some((line, column)) = at
        && let Some(cut) = message.rfind(&format!(" at line {line} column {column}"))
    {
        message.truncate(cut);
    }
    ConfigError::Invalid {
        path: path.to_string(),
        at,
        message,
    }
}

fn interpolate(v: &mut Value, at: &str, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    match v {
        Value::String(s) => *s = substitute(s, at, path, env)?,
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{at}[{i}]"), path, env)?;
            }
        }
        Value::Mapping(map) => {
            for (k, item) in map.iter_mut() {
                let key = k.as_str().unwrap_or("?");
                let here = if at.is_empty() {
                    key.to_string()
                } else {
                    format!("{at}.{key}")
                };
                interpolate(item, &here, path, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn substitute(s: &str, at: &str, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or_else(|| ConfigError::Unterminated {
                path: path.into(),
                at: at.into(),
            })?;
            let name = &after[..end];
            let value = env(name).ok_or_else(|| ConfigError::MissingVar {
                path: path.into(),
                var: name.into(),
                at: at.into(),
            })?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_string())
    }

    #[test]
    fn resolves_environment_references() {
        let text = "sources:\n  - name: gh\n    verify:\n      scheme: token\n      secrets: [\"${TOKEN}\", \"pre-${TOKEN}-$$-$${x}\"]\n";
        let cfg = ConfigFile::parse(text, "c.yaml", &env).unwrap();
        assert_eq!(cfg.sources[0].verify.secrets, ["s3cret", "pre-s3cret-$$-${x}"]);
    }

    #[test]
    fn endpoints_are_declared_by_name_with_an_optional_secret() {
        let text = "endpoints:\n  - name: billing\n    url: https://billing.example/hooks\n    event_types: [\"order.*\"]\n    secret: \"${TOKEN}\"\n    headers: {X-Api-Key: k}\n";
        let cfg = ConfigFile::parse(text, "c.yaml", &env).unwrap();
        let e = &cfg.endpoints[0];
        assert_eq!(e.spec.name.as_deref(), Some("billing"));
        assert_eq!(e.secret.as_deref(), Some("s3cret"));
        assert_eq!(e.spec.headers["X-Api-Key"], "k");
        let err = ConfigFile::parse("endpoints:\n  - url: https://x.example/\n", "c.yaml", &env).unwrap_err();
        assert!(err.to_string().contains("needs a name"), "{err}");
        let err = ConfigFile::parse(
            "endpoints:\n  - name: a\n    url: https://x.example/\n    nope: 1\n",
            "c.yaml",
            &env,
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "unknown keys are errors: {err}");
    }

    #[test]
    fn a_missing_variable_is_named() {
        let text = "sources:\n  - name: gh\n    verify: {scheme: token, secrets: [\"${NOPE}\"]}\n";
        let err = ConfigFile::parse(text, "c.yaml", &env).unwrap_err().to_string();
        assert!(
            err.contains("NOPE") && err.contains("sources[0].verify.secrets[0]"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_empty_files() {
        assert!(ConfigFile::parse("srcs: []", "c.yaml", &env).is_err());
        assert!(ConfigFile::parse("", "c.yaml", &env).unwrap().sources.is_empty());
        assert!(ConfigFile::parse("sources: [{name: a, verify: {scheme: none}}] x", "c.yaml", &env).is_err());
    }
}
