//! `saad-gateway demo` (api.md; the README's first command) plays its month
//! end to end through the real HTTPS API and writes the payment files.

use std::process::Command;

#[test]
fn the_demo_plays_january_through_the_api_and_writes_the_payment_files() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_saad-gateway"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["demo", "--no-serve"])
        .output()
        .expect("run saad-gateway demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The demo's own words for a route not built (not any "501" in its
    // output: the random port it prints may contain those digits).
    assert!(
        !stdout.contains("answers 501"),
        "a step is not built: {stdout}"
    );
    assert!(
        stdout.contains("PA-APA-0008  v1 refused (PLAN_ABOVE_CEILING)"),
        "{stdout}"
    );
    assert!(stdout.contains("LATE_TRANSMISSION"), "{stdout}");
    assert!(stdout.contains("5 invoices final"), "{stdout}");
    assert!(stdout.contains("total 4952.90 €"), "{stdout}");
    let files: Vec<String> = std::fs::read_dir(dir.path().join("saad-gateway-demo-output"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(dir.path().join("saad-gateway-demo.db").exists());
}
