//! Command-line definition (every flag has an environment twin) and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

#[derive(Parser, Debug)]
#[command(
    name = "switchyard",
    version,
    about = "Self-hosted integration gateway: webhooks in, webhooks out, reliable by default."
)]
pub struct Cli {
    /// Log format: one JSON object per line, or text for humans.
    #[arg(
        long,
        env = "SWITCHYARD_LOG_FORMAT",
        value_enum,
        default_value = "json",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server and workers.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage API keys directly in the database.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect events on a running server.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Inspect and replay outbound deliveries on a running server.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Inspect flow runs and retry failed ones.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Flows: list, show, version history, activate an earlier version (rollback).
    #[command(subcommand)]
    Flows(FlowsCommand),
    /// Reconcile a server (or a database) with a config file: show what differs, then apply it.
    Apply(ApplyArgs),
    /// Send a correctly signed test webhook to a URL, for any supported scheme.
    Send(SendArgs),
    /// Print the JSON Schema of the config file (for editors; docs/switchyard-config.schema.json).
    ConfigSchema,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The config file (YAML, as `serve --config` reads it; `${NAME}` reads the environment).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Only show what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete sources, endpoints, destinations, flows and alerts the file does not declare.
    #[arg(long)]
    pub prune: bool,
    /// Apply straight to this database (sqlite://FILE or postgres://…) instead of through a
    /// server's API; the master key is found as `serve` finds it.
    #[arg(long = "database", hide_env_values = true)]
    pub database: Option<String>,
    /// Base URL of a running server.
    #[arg(long, env = "SWITCHYARD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key with write scope (not needed with --database).
    #[arg(long, env = "SWITCHYARD_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    /// Verification scheme to sign for (none, token, basic, standard-webhooks, stripe, github, …).
    #[arg(long)]
    pub scheme: String,
    /// The secret to sign with (for basic: user:password; for standard-webhooks: whsec_… or whsk_…).
    #[arg(long, env = "SWITCHYARD_SEND_SECRET", hide_env_values = true, default_value = "")]
    pub secret: String,
    /// Where to send it, e.g. http://127.0.0.1:8080/in/stripe. URL-signing schemes sign this URL.
    #[arg(long)]
    pub url: String,
    /// Body: inline text, or @FILE to read a file.
    #[arg(long, default_value = "{\"type\":\"switchyard.test\",\"data\":{}}")]
    pub data: String,
    /// Extra header `name:value` (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Scheme option `key=value` as in a source's verify block, e.g. header=X-Token (repeatable).
    #[arg(long = "option")]
    pub options: Vec<String>,
    /// Content-Type of the body.
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
    /// Message id for schemes that carry one (default: a fresh msg_… id).
    #[arg(long)]
    pub id: Option<String>,
    /// Unix timestamp to sign (default: now).
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Print the request and answer as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE (created if missing) or postgres://…
    #[arg(
        long = "database",
        env = "SWITCHYARD_DATABASE_URL",
        // It can hold a password: `--help` must not print the environment's value.
        hide_env_values = true,
        default_value = "sqlite://switchyard.db"
    )]
    pub url: String,
    /// Connections in the database pool.
    #[arg(long, env = "SWITCHYARD_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub max_connections: u32,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// PEM certificate chain: serve HTTPS (with Strict-Transport-Security) instead of plain HTTP.
    #[arg(long, env = "SWITCHYARD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SWITCHYARD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// YAML file declaring sources; applied idempotently at start-up. `${NAME}` reads the environment.
    #[arg(long, env = "SWITCHYARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT.
    #[arg(long, env = "SWITCHYARD_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,
    /// Batch concurrent intake writes into one transaction (turn off only to measure).
    #[arg(long, env = "SWITCHYARD_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub group_commit: bool,
    /// Largest number of intake writes in one transaction.
    #[arg(long, env = "SWITCHYARD_GROUP_COMMIT_MAX_BATCH", default_value_t = 2000)]
    pub group_commit_max_batch: usize,
    /// Address blocks (CIDR, comma-separated) that outbound calls may reach although they are
    /// loopback, private, link-local or otherwise refused by default, e.g. 127.0.0.0/8 for a
    /// local receiver.
    #[arg(long, env = "SWITCHYARD_ALLOW_DESTINATIONS", value_delimiter = ',')]
    pub allow_destinations: Vec<String>,
    /// The address operators reach the dashboard at, for links in alert notifications
    /// (default: http:// and the listen address).
    #[arg(long, env = "SWITCHYARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// SMTP server for alert mail: smtp://host:port (plain), smtp://host:587?tls=required
    /// (STARTTLS) or smtps://host:465, with optional user:password@. Overrides the config file's.
    #[arg(long, env = "SWITCHYARD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender address of alert mail.
    #[arg(long, env = "SWITCHYARD_SMTP_FROM", default_value = "switchyard@localhost")]
    pub smtp_from: String,
    /// Seconds to wait for an outbound connection.
    #[arg(long, env = "SWITCHYARD_OUTBOUND_CONNECT_TIMEOUT", default_value_t = 5)]
    pub outbound_connect_timeout: u64,
    /// Seconds an outbound request may take in all.
    #[arg(long, env = "SWITCHYARD_OUTBOUND_TIMEOUT", default_value_t = 15)]
    pub outbound_timeout: u64,
    /// Seconds a node holds a claimed delivery or flow run (each step extends a run's claim);
    /// after a crash, its work is taken over by another node once this passes. At least the
    /// outbound timeout plus 2 s (default: timeout plus 45 s).
    #[arg(long, env = "SWITCHYARD_DELIVERY_LEASE")]
    pub delivery_lease: Option<u64>,
    /// Days anything stored (events with their payloads, receipts, deliveries and attempts) is
    /// kept, unless its source or endpoint sets its own `retention_days`.
    #[arg(long, env = "SWITCHYARD_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_days: u32,
    /// Seconds a client has to send a request's headers (and to start the next request on a
    /// keep-alive connection) before the connection is closed.
    #[arg(long, env = "SWITCHYARD_HTTP_HEADER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub http_header_timeout: u64,
    /// Seconds a client connection may stay open with no request in flight.
    #[arg(long, env = "SWITCHYARD_HTTP_IDLE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_idle_timeout: u64,
    /// Client connections open at once at most; beyond it new ones wait to be accepted.
    #[arg(long, env = "SWITCHYARD_HTTP_MAX_CONNECTIONS", default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub http_max_connections: u64,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key and print it once.
    Create {
        #[arg(long, value_parser = ["admin", "write", "read"])]
        scope: String,
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their values).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke {
        id: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Re-seal every stored secret under a new master key, while servers keep running.
    ///
    /// With SWITCHYARD_MASTER_KEY set: first give every node the new key as SWITCHYARD_MASTER_KEY
    /// and the old one in SWITCHYARD_MASTER_KEY_PREVIOUS (a rolling restart), then run this with
    /// the same two variables; when it reports every value under the current key, drop
    /// SWITCHYARD_MASTER_KEY_PREVIOUS. Without it (SQLite and its key file): this generates the
    /// new key, writes it into the key file ahead of the old one (a running server picks it up),
    /// re-seals, and then leaves only the new key in the file.
    RotateMaster {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Base URL of a running server.
    #[arg(long, env = "SWITCHYARD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key (read scope is enough to inspect events).
    #[arg(long, env = "SWITCHYARD_KEY", hide_env_values = true)]
    pub key: String,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// List events, newest first.
    List {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long = "type")]
        event_type: Option<String>,
        /// RFC 3339 lower bound (inclusive).
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339 upper bound (exclusive).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one event with payload, headers and timeline.
    Show {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Send an event again to every endpoint it was delivered to, with its original webhook-id
    /// (the same as `deliveries replay --event`). Waits for the deliveries to settle, with a
    /// progress bar on a terminal.
    Replay {
        /// The event (evt_…) to replay.
        id: String,
        #[command(flatten)]
        wait: ReplayWait,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Follow new events and run outcomes live (server-sent events) until interrupted; one line
    /// each, or one JSON object per line with --json.
    Tail {
        /// Only this source's events (name or src_ id).
        #[arg(long)]
        source: Option<String>,
        /// Only events of this exact type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Leave run outcomes out.
        #[arg(long)]
        no_runs: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Release quarantined events: one by id, or a source's backlog with --source.
    Release {
        /// The quarantined event to release.
        #[arg(required_unless_present = "source", conflicts_with = "source")]
        id: Option<String>,
        /// Release every quarantined event of this source (name or src_ id).
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeliveriesCommand {
    /// List deliveries, newest first.
    List {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        event: Option<String>,
        #[arg(long)]
        endpoint: Option<String>,
        /// pending, succeeded, failed or dead.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Send deliveries again, with their original webhook-id: one delivery, every delivery of
    /// an event (--event), or every failed/dead delivery of an endpoint since a time
    /// (--endpoint with --since). Waits for them to settle, with a progress bar on a terminal.
    Replay {
        /// The delivery (dlv_…) to replay.
        #[arg(required_unless_present_any = ["event", "endpoint"], conflicts_with_all = ["event", "endpoint"])]
        id: Option<String>,
        #[arg(long, conflicts_with = "endpoint")]
        event: Option<String>,
        #[arg(long, requires = "since")]
        endpoint: Option<String>,
        /// RFC 3339 time: with --endpoint, replay deliveries created since then.
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        wait: ReplayWait,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// List flow runs, newest first.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// A flow's name.
        #[arg(long)]
        flow: Option<String>,
        /// pending, running, waiting, succeeded, filtered, failed or dead.
        #[arg(long)]
        status: Option<String>,
        /// The trigger event (evt_…).
        #[arg(long)]
        event: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one run with each step's status, attempts, output and error.
    Show {
        /// The run (run_…).
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Resume a failed or dead run from its failed step.
    Retry {
        /// The run (run_…).
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum FlowsCommand {
    /// List flows with their version and trigger.
    List {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a flow's definition (and a schedule's next runs).
    Show {
        /// The flow's name or id.
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// A flow's versions, newest first.
    Versions {
        /// The flow's name or id.
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make an earlier version current again (stored as a new version).
    Activate {
        /// The flow's name or id.
        name: String,
        /// The version to activate.
        version: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// What-if run with no side effects: every request the flow would send is shown, none is
    /// sent. With -f, the flow's definition in that config file is tried instead of the active
    /// one; --compare N walks both over the trigger's last N events and shows where they differ.
    Test(FlowTestArgs),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("input").args(["event", "data", "compare"]).required(true)))]
pub struct FlowTestArgs {
    /// The flow's name or id.
    pub name: String,
    /// A stored event to walk over (`evt_…`).
    #[arg(long)]
    pub event: Option<String>,
    /// A payload to walk over: inline JSON, or @FILE.
    #[arg(long)]
    pub data: Option<String>,
    /// The event type of --data.
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// A config file holding a changed definition of the flow (found by name).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Compare the active definition with the file's over the trigger's last N events.
    #[arg(long, requires = "file")]
    pub compare: Option<usize>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How a replay command waits for the replayed deliveries.
#[derive(Args, Debug, Clone, Copy)]
pub struct ReplayWait {
    /// Return once the replay is queued instead of waiting for the outcome.
    #[arg(long)]
    pub no_wait: bool,
    /// Longest wait for the replayed deliveries to settle.
    #[arg(long, default_value_t = 300)]
    pub wait_seconds: u64,
}

/// Runs the command line; errors are printed once, plainly, and give exit code 1 (2 for an
/// invalid config file).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // An invalid config file: each fault already names its file, line and column.
        Err(commands::CmdError::InvalidFile(faults)) => {
            eprintln!("{faults}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
