//! Switchyard's pure core: typed ids, clock helpers, source definitions and their validation,
//! API-key scopes, header redaction and sealing of secrets at rest. Nothing here does I/O, so every
//! rule in it can be unit-tested without a server or a database.

pub mod alert;
pub mod apikey;
pub mod audit;
pub mod declared;
pub mod delivery;
pub mod destination;
pub mod endpoint;
pub mod flow;
pub mod headers;
pub mod ids;
mod names;
pub mod network;
pub mod redact;
pub mod secrets;
pub mod source;
pub mod time;
pub mod verify;
