//! Schema-driven fuzzing of the whole REST API with schemathesis (installed by `.ci/setup test`
//! into `.tools/venv`): generated requests from `/api/openapi.json`, authenticated, must never
//! get a 5xx and every answer must match the document. `KEYWARDEN_FUZZ_EXAMPLES` sets the
//! examples per operation (`make test`: 10, `make soak`: 300).

mod harness;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use harness::{Backend, TestServer};

on_both_backends!(the_api_survives_schema_driven_fuzzing);

/// Operations that end the caller's session; fuzzed apart, each run with a fresh one.
const SESSION_ENDING: [&str; 4] = [
    "/api/v1/auth/logout",
    "/api/v1/auth/logout-everywhere",
    "/api/v1/auth/password",
    "/api/v1/auth/sessions/{id}",
];

fn schemathesis() -> PathBuf {
    std::env::var_os("SCHEMATHESIS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../.tools/venv/bin/schemathesis"
            ))
        },
        PathBuf::from,
    )
}

/// Runs schemathesis; a run that only crashed inside the tool (a "Runtime Error" in its
/// Python, with no check failing against our API) is run again, twice at most.
fn fuzz(server: &TestServer, token: &str, paths: &[&str], include: bool) -> (bool, String) {
    let mut report = String::new();
    for _ in 0..3 {
        let (passed, text) = fuzz_once(server, token, paths, include);
        let tool_crash_only = !passed && text.contains("Runtime Error") && !text.contains("❌ ST");
        report.push_str(&text);
        if !tool_crash_only {
            return (passed, report);
        }
        report.push_str("\n(schemathesis crashed inside itself; running it again)\n");
    }
    (false, report)
}

fn fuzz_once(server: &TestServer, token: &str, paths: &[&str], include: bool) -> (bool, String) {
    let examples = std::env::var("KEYWARDEN_FUZZ_EXAMPLES").unwrap_or_else(|_| "10".into());
    let program = schemathesis();
    assert!(
        program.exists(),
        "{} is missing: `bash .ci/setup test` installs schemathesis",
        program.display()
    );
    // Each run its own example database and crash cache (schemathesis keeps one in its working
    // directory): two runs at once must not share them, and none belongs in the repository.
    let storage = tempfile::tempdir().unwrap();
    let mut command = Command::new(program);
    command
        .current_dir(storage.path())
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", &examples, "--workers", "1", "--no-color"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("HYPOTHESIS_STORAGE_DIRECTORY", storage.path());
    let flag = if include {
        "--include-path"
    } else {
        "--exclude-path"
    };
    for path in paths {
        command.args([flag, path]);
    }
    let output = command.output().expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn the_api_survives_schema_driven_fuzzing(backend: Backend) {
    // Generous limits: the fuzzer signs in and registers far more than a person would.
    let overrides = HashMap::from([
        ("KEYWARDEN_LOGIN_FAILURES_PER_ACCOUNT", "1000000".to_owned()),
        ("KEYWARDEN_LOGIN_FAILURES_PER_IP", "1000000".to_owned()),
        ("KEYWARDEN_REGISTRATIONS_PER_IP", "1000000".to_owned()),
    ]);
    let server = TestServer::start_with(backend, overrides).await;
    let token = server.user("fuzz@example.com").await;
    server.add_demo_key(&token).await;
    let (passed, report) =
        tokio::task::block_in_place(|| fuzz(&server, &token, &SESSION_ENDING, false));
    eprintln!("{report}");
    assert!(passed, "schemathesis found failures (report above)");
    for path in SESSION_ENDING {
        let token = server.user_session("fuzz@example.com").await;
        let (passed, report) = tokio::task::block_in_place(|| fuzz(&server, &token, &[path], true));
        assert!(passed, "{path}:\n{report}");
    }
    server.finish().await;
}
