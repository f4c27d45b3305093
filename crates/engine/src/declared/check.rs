//! Checks a whole declaration before anything is written: unique names per kind, and each
//! definition through the same checks its catalog makes — a flow may name what the same file
//! declares. Every fault is reported at once, under its place in the file.

use std::collections::HashSet;

use switchyard_core::declared::Declared;
use switchyard_core::source::FieldError;

use super::errors::{Classify, under};
use super::{Catalogs, DeclaredError};
use crate::endpoints::EndpointCatalog;
use crate::flows::Planned;
use crate::sources::SourceCatalog;

pub(super) async fn check(cat: &Catalogs, d: &Declared) -> Result<(), DeclaredError> {
    let mut errors = Vec::new();
    unique("sources", d.sources.iter().map(|s| s.name.as_str()), &mut errors);
    unique(
        "endpoints",
        d.endpoints.iter().map(|e| e.spec.name.as_deref().unwrap_or_default()),
        &mut errors,
    );
    unique(
        "destinations",
        d.destinations.iter().map(|s| s.name.as_str()),
        &mut errors,
    );
    unique("flows", d.flows.iter().map(|s| s.name.as_str()), &mut errors);
    unique("alerts", d.alerts.iter().map(|s| s.name.as_str()), &mut errors);

    let mut keep = |result: Result<(), DeclaredError>| match result {
        Ok(()) => Ok(()),
        Err(DeclaredError::Invalid(fields)) => {
            errors.extend(fields);
            Ok(())
        }
        Err(other) => Err(other),
    };
    for (i, spec) in d.sources.iter().enumerate() {
        keep(SourceCatalog::check(spec).map_err(|e| e.classify(&format!("sources[{i}]"))))?;
    }
    for (i, e) in d.endpoints.iter().enumerate() {
        keep(
            EndpointCatalog::check_declared(&e.spec, e.secret.as_deref())
                .map(|_| ())
                .map_err(|err| err.classify(&format!("endpoints[{i}]"))),
        )?;
    }
    for (i, spec) in d.destinations.iter().enumerate() {
        keep(
            spec.clone()
                .normalized()
                .map(|_| ())
                .map_err(|fields| DeclaredError::Invalid(under(&format!("destinations[{i}]"), fields))),
        )?;
    }
    let planned = Planned {
        sources: d.sources.iter().map(|s| s.name.as_str()).collect(),
        destinations: d.destinations.iter().map(|s| s.name.as_str()).collect(),
        endpoints: d.endpoints.iter().filter_map(|e| e.spec.name.as_deref()).collect(),
    };
    for (i, spec) in d.flows.iter().enumerate() {
        keep(
            cat.flows
                .check_with(spec, &planned)
                .await
                .map_err(|e| e.classify(&format!("flows[{i}]"))),
        )?;
    }
    for (i, spec) in d.alerts.iter().enumerate() {
        keep(
            spec.validate()
                .map_err(|fields| DeclaredError::Invalid(under(&format!("alerts[{i}]"), fields))),
        )?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DeclaredError::Invalid(errors))
    }
}

/// A name declared twice in one section is an error at its second place.
fn unique<'a>(section: &str, names: impl Iterator<Item = &'a str>, errors: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        if !seen.insert(name) {
            errors.push(FieldError {
                field: format!("{section}[{i}].name"),
                message: format!("{name:?} is declared twice"),
            });
        }
    }
}
