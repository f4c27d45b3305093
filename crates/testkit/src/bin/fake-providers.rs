//! `fake-providers [--listen 127.0.0.1:4010]`: the fake OAuth2 token endpoint, HubSpot contacts
//! API and Slack incoming webhook of `switchyard_testkit::fakes`, as a process, for the examples
//! (`examples/form-to-crm/run.sh`). Prints its URLs, then serves until killed.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:4010".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().unwrap_or(listen),
            "-h" | "--help" => {
                println!("fake-providers [--listen ADDR]  (default 127.0.0.1:4010)");
                return;
            }
            other => {
                eprintln!("unknown argument {other:?}; see --help");
                std::process::exit(2);
            }
        }
    }
    let fakes = match switchyard_testkit::fakes::FakeProviders::start_on(&listen).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    println!("fake providers on {}", fakes.base);
    println!(
        "  OAuth2 token endpoint  {}  (client {} / {})",
        fakes.token_url(),
        switchyard_testkit::fakes::CLIENT_ID,
        switchyard_testkit::fakes::CLIENT_SECRET
    );
    println!("  HubSpot contacts       {}/crm/v3/objects/contacts", fakes.base);
    println!("  Slack incoming webhook {}", fakes.slack_url());
    println!("  what they received     {}/_fakes/state", fakes.base);
    std::future::pending::<()>().await;
}
