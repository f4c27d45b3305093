//! `switchyard apply -f FILE [--dry-run] [--prune]`: reconciles a running server (through
//! `POST /v1/apply`) or a database (`--database`, through the same engine code) with a config
//! file. Prints the plan — each changed field, secrets only as changed — and applies it unless
//! `--dry-run`. A fault in the file is reported at its line and column, with exit code 2.

use serde_json::Value;
use switchyard_core::declared::{Change, ChangeAction, FieldChange, Plan};
use switchyard_core::source::FieldError;
use switchyard_engine::declared::{self, Applier, ApplyOptions, Catalogs, DeclaredError};

use super::{CmdError, open_store, sqlite_path};
use crate::cli::{ApplyArgs, DatabaseArgs, ServerArgs};
use crate::client::{ApiClient, ClientError};
use crate::config::ConfigFile;
use crate::locate::describe_faults;
use crate::master_key;

pub async fn run(args: ApplyArgs) -> Result<(), CmdError> {
    let shown = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| CmdError::InvalidFile(format!("{shown}: cannot read the file: {e}")))?;
    let config = ConfigFile::parse(&text, &shown, &|name| std::env::var(name).ok())
        .map_err(|e| CmdError::InvalidFile(e.to_string()))?;
    let declared = config.declared();
    let options = ApplyOptions {
        dry_run: args.dry_run,
        prune: args.prune,
    };
    let faults = |fields: Vec<FieldError>| CmdError::InvalidFile(describe_faults(&text, &shown, &fields));
    let plan = match &args.database {
        Some(url) => {
            let db = DatabaseArgs {
                url: url.clone(),
                max_connections: 2,
            };
            let store = open_store(&db).await?;
            let key = master_key::resolve(url, sqlite_path(url).as_deref(), master_key::EnvKeys::from_env())?;
            let catalogs = Catalogs::open(store, key)
                .await
                .map_err(|e| CmdError::Message(e.to_string()))?;
            match declared::reconcile(&catalogs, declared, options, Applier::Database).await {
                Ok(plan) => plan,
                Err(DeclaredError::Invalid(fields)) => return Err(faults(fields)),
                Err(e) => return Err(CmdError::Message(e.to_string())),
            }
        }
        None => {
            let key = args.key.clone().ok_or_else(|| {
                CmdError::Message(
                    "pass --key (or SWITCHYARD_KEY) for the server, or --database to apply to a database".into(),
                )
            })?;
            let client = ApiClient::new(&ServerArgs {
                url: args.url.clone(),
                key,
                json: args.json,
            })?;
            let path = format!("/v1/apply?dry_run={}&prune={}", options.dry_run, options.prune);
            let body = serde_json::to_value(&declared).map_err(|e| CmdError::Message(e.to_string()))?;
            match client.post(&path, &body).await {
                Ok(v) => serde_json::from_value::<Plan>(v)
                    .map_err(|e| CmdError::Message(format!("the server's plan is unreadable: {e}")))?,
                Err(ClientError::Api {
                    status: 422, details, ..
                }) if details["fields"].is_array() => {
                    let fields = details["fields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|f| FieldError {
                            field: f["field"].as_str().unwrap_or_default().to_string(),
                            message: f["message"].as_str().unwrap_or_default().to_string(),
                        })
                        .collect();
                    return Err(faults(fields));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default());
    } else {
        print!("{}", render(&plan, &shown));
    }
    Ok(())
}

/// The plan for people: `+` create, `~` update (each field), `-` delete, then a summary.
pub fn render(plan: &Plan, file: &str) -> String {
    if plan.changes.is_empty() {
        return format!("No changes: the server matches {file}.\n");
    }
    let mut out = String::new();
    for change in &plan.changes {
        out.push_str(&change_line(change));
        for field in &change.fields {
            out.push_str(&format!("      {}\n", field_line(field)));
        }
    }
    let count = |a: ChangeAction| plan.changes.iter().filter(|c| c.action == a).count();
    out.push_str(&format!(
        "{} to create, {} to update, {} to delete — {}\n",
        count(ChangeAction::Create),
        count(ChangeAction::Update),
        count(ChangeAction::Delete),
        if plan.applied {
            "applied."
        } else {
            "dry run, nothing changed."
        }
    ));
    out
}

fn change_line(c: &Change) -> String {
    let mark = match c.action {
        ChangeAction::Create => '+',
        ChangeAction::Update => '~',
        ChangeAction::Delete => '-',
    };
    format!("  {mark} {} {}\n", c.kind.as_str(), c.name)
}

fn field_line(f: &FieldChange) -> String {
    if f.secret {
        return format!("{}: (secret changed)", f.field);
    }
    let show = |v: &Option<Value>| match v {
        None => "(absent)".to_string(),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() > 60 {
                format!("{}…", text.chars().take(59).collect::<String>())
            } else {
                text
            }
        }
    };
    format!("{}: {} → {}", f.field, show(&f.before), show(&f.after))
}
