//! Sources: the catalog that creates, changes and removes them (sealing secrets on the way in)
//! and the in-memory view intake reads on every request.

mod catalog;
mod merge;
mod schema;

pub use catalog::{CatalogError, Source, SourceCatalog};
pub use merge::merge_patch;
pub use schema::CompiledSchema;
