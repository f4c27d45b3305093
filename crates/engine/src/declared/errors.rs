//! What can stop a reconciliation, with each catalog's error sorted into it: a definition's
//! faults become field errors under the file's path (`flows[1].steps[0]…`), storage failures stay
//! storage failures (their text never reaches a client).

use switchyard_core::source::FieldError;
use switchyard_store::StoreError;

use crate::alerts::AlertError;
use crate::destinations::DestinationError;
use crate::endpoints::EndpointError;
use crate::flows::FlowError;
use crate::sources::CatalogError;

#[derive(Debug, thiserror::Error)]
pub enum DeclaredError {
    /// Faults in the declaration, each aimed at its field (`sources[0].verify.scheme`).
    #[error("the configuration is invalid: {}", switchyard_core::source::describe(.0))]
    Invalid(Vec<FieldError>),
    /// A write was refused although the plan was sound (another writer changed the same
    /// definition meanwhile); applying again resolves it.
    #[error("{at}: {message}")]
    Refused { at: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{at}: a stored secret could not be opened with the master key")]
    Sealed { at: String },
}

/// Sorts a catalog's error; `at` is the file path (`flows[2]`) or the definition it concerns.
pub(super) trait Classify {
    fn classify(self, at: &str) -> DeclaredError;
}

/// Field errors under `at`: `steps[0].map` becomes `flows[2].steps[0].map`.
pub(super) fn under(at: &str, fields: Vec<FieldError>) -> Vec<FieldError> {
    fields
        .into_iter()
        .map(|f| FieldError {
            field: match (at.is_empty(), f.field.is_empty()) {
                (true, _) => f.field,
                (false, true) => at.to_string(),
                (false, false) => format!("{at}.{}", f.field),
            },
            message: f.message,
        })
        .collect()
}

fn refused(at: &str, e: impl std::fmt::Display) -> DeclaredError {
    DeclaredError::Refused {
        at: at.to_string(),
        message: e.to_string(),
    }
}

macro_rules! classify {
    ($error:ident, $($other:pat),*) => {
        impl Classify for $error {
            fn classify(self, at: &str) -> DeclaredError {
                match self {
                    $error::Invalid(fields) => DeclaredError::Invalid(under(at, fields)),
                    $error::Store(e) => DeclaredError::Store(e),
                    $error::Sealed(_) => DeclaredError::Sealed { at: at.to_string() },
                    other @ ($($other)|*) => refused(at, other),
                }
            }
        }
    };
}

classify!(CatalogError, CatalogError::NotFound, CatalogError::NameTaken(_));
classify!(EndpointError, EndpointError::NotFound, EndpointError::NameTaken(_));
classify!(
    DestinationError,
    DestinationError::NotFound,
    DestinationError::NameTaken(_)
);

impl Classify for AlertError {
    fn classify(self, at: &str) -> DeclaredError {
        match self {
            AlertError::Invalid(fields) => DeclaredError::Invalid(under(at, fields)),
            AlertError::Store(e) => DeclaredError::Store(e),
            AlertError::Sealed(_) | AlertError::Corrupt(_) => DeclaredError::Sealed { at: at.to_string() },
            other @ (AlertError::NotFound | AlertError::NameTaken(_)) => refused(at, other),
        }
    }
}

impl Classify for FlowError {
    fn classify(self, at: &str) -> DeclaredError {
        match self {
            FlowError::Invalid(fields) => DeclaredError::Invalid(under(at, fields)),
            FlowError::Store(e) => DeclaredError::Store(e),
            other @ (FlowError::NotFound
            | FlowError::NameTaken(_)
            | FlowError::Changed
            | FlowError::VersionNotFound(_)) => refused(at, other),
        }
    }
}
