//! `switchyard keys rotate-master`: moves every stored secret to a new master key without
//! stopping the servers (see the command's help for the two procedures). The work itself is
//! `switchyard_engine::reseal`; this module finds the keys and, for a key file, rotates it.

use serde_json::json;
use switchyard_core::secrets::MasterKey;
use switchyard_engine::reseal::{ResealReport, reseal_all};

use super::{CmdError, open_store, sqlite_path};
use crate::cli::DatabaseArgs;
use crate::master_key::{self, EnvKeys, KeyOrigin, PREVIOUS_KEYS_ENV};

pub async fn run(database: &DatabaseArgs, json: bool) -> Result<(), CmdError> {
    let url = &database.url;
    let (key, origin) = master_key::resolve_with_origin(url, sqlite_path(url).as_deref(), EnvKeys::from_env())?;
    let store = open_store(database).await?;
    store.migrate().await?;
    let report = match &origin {
        KeyOrigin::Env => reseal_all(store.as_ref(), &key).await?,
        KeyOrigin::File(file) => {
            // The ring as it was read: the old current key and any previous ones it still had.
            let old = std::fs::read_to_string(file)
                .map_err(|e| CmdError::Message(format!("cannot read the key file {}: {e}", file.display())))?;
            let new = MasterKey::generate_base64();
            let mut ring: Vec<&str> = vec![new.as_str()];
            ring.extend(old.split_whitespace());
            master_key::write_key_file(file, &ring, false)?;
            let rotated = MasterKey::from_ring(&new, &ring[1..])
                .map_err(|e| CmdError::Message(format!("the key file {}: {e}", file.display())))?;
            let report = reseal_all(store.as_ref(), &rotated).await?;
            if report.complete() {
                master_key::write_key_file(file, &[new.as_str()], false)?;
            }
            report
        }
    };
    print_report(&report, &origin, json);
    if report.complete() {
        Ok(())
    } else {
        Err(CmdError::Message(incomplete(&report)))
    }
}

fn incomplete(report: &ResealReport) -> String {
    if report.unopenable.is_empty() {
        format!(
            "values were still being written under an old key after {} passes: a node runs without the new key; \
             give every node the new key and run this again",
            report.passes
        )
    } else {
        let which: Vec<String> = report
            .unopenable
            .iter()
            .map(|(kind, id)| format!("{} {id}", kind.as_str()))
            .collect();
        format!(
            "{} stored values open with none of the keys given (left as they are): {}; \
             add the key that sealed them to {PREVIOUS_KEYS_ENV} and run this again",
            which.len(),
            which.join(", ")
        )
    }
}

fn print_report(report: &ResealReport, origin: &KeyOrigin, json: bool) {
    let moved: serde_json::Map<_, _> = report
        .moved
        .iter()
        .map(|(kind, n)| (kind.as_str().to_string(), json!(n)))
        .collect();
    if json {
        let unopenable: Vec<_> = report
            .unopenable
            .iter()
            .map(|(kind, id)| json!({"kind": kind.as_str(), "id": id}))
            .collect();
        println!(
            "{}",
            json!({"moved": moved, "moved_total": report.moved_total(), "already_current": report.current,
                   "unopenable": unopenable, "passes": report.passes, "complete": report.complete()})
        );
        return;
    }
    println!(
        "re-sealed {} values under the current key ({}), {} already under it, in {} passes",
        report.moved_total(),
        if moved.is_empty() {
            "none moved".to_string()
        } else {
            moved
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        report.current,
        report.passes
    );
    if report.complete() {
        match origin {
            KeyOrigin::Env => eprintln!(
                "every stored value opens with SWITCHYARD_MASTER_KEY alone: {PREVIOUS_KEYS_ENV} can be removed"
            ),
            KeyOrigin::File(file) => eprintln!(
                "the key file {} now holds only the new key; back it up with the database",
                file.display()
            ),
        }
    }
}
