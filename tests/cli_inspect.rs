//! `saad-gateway inspect FILE` as a SAAD's developer runs it (api.md
//! "Binary and configuration"): JSON on stdout, exit 1 on errors.

use std::process::Command;

fn inspect(path: &std::path::Path) -> (i32, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_saad-gateway"))
        .arg("inspect")
        .arg(path)
        .output()
        .expect("run saad-gateway inspect");
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (output.status.code().unwrap_or(-1), json)
}

#[test]
fn inspect_prints_what_the_gateway_understood_of_the_sample_delivery() {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/esppadom/delivery-apa-example.xml"
    );
    let (code, json) = inspect(std::path::Path::new(sample));
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["kind"], "delivery");
    let lines = json["interventions"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "INTV-2024-000811");
    assert_eq!(lines[0]["counted_minutes"], 52);
    assert_eq!(lines[0]["rounded_minutes"], 45);
    assert_eq!(lines[1]["correction_reason"], "FORGOTTEN");
    assert_eq!(lines[1]["raw_end"], serde_json::Value::Null);
    assert_eq!(lines[1]["rounded_minutes"], 120);
    assert_eq!(json["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn inspect_reports_malformed_xml_with_line_and_column_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.xml");
    std::fs::write(
        &path,
        "<?xml version=\"1.0\"?>\n<ns:delivery xmlns:ns=\"urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2\">\n  <ns:CrossIndustryDespatchAdvice>\n  </ns:Oops>\n</ns:delivery>\n",
    )
    .unwrap();
    let (code, json) = inspect(&path);
    assert_eq!(code, 1, "{json}");
    let errors = json["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert_eq!(errors[0]["line"], 4, "{json}");
    assert!(errors[0]["column"].as_u64().unwrap() >= 1);
    assert!(!errors[0]["message"].as_str().unwrap().is_empty());
}
