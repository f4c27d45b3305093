//! The peer address of a connection, plain or TLS, for handlers that need it (IP allow-lists).
//! `connections.rs` puts it into every request's extensions as `ConnectInfo<PeerAddr>`.

use std::net::SocketAddr;

#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);
