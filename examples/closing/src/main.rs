//! `hanok-closing --endpoint URL`: the acceptance story against a running dev node
//! (`hanok node --dev`), narrated. `hanok demo` runs the same story and, given no endpoint,
//! starts its own node.

use std::process::ExitCode;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut endpoint = "http://127.0.0.1:50051".to_string();
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--endpoint", Some(url)) => endpoint = url,
            _ => {
                eprintln!("usage: hanok-closing [--endpoint URL]   (default {endpoint})");
                return ExitCode::from(2);
            }
        }
    }
    let mut out = hanok_closing::Stdout;
    match hanok_closing::run(&endpoint, &hanok_closing::Terms::default(), &mut out).await {
        Ok(o) => {
            println!(
                "\nAll steps passed: parcel {} now belongs to the buyer (deal #{}).",
                o.parcel_id, o.deal_id
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\nFAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
