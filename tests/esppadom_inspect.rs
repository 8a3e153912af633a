//! `inspect`: the JSON of api.md on the spec's samples.

use std::path::Path;

use saad_gateway::charter::load_dir;
use saad_gateway::xml::inspect;
use serde_json::json;

fn params() -> saad_gateway::domain::params::Parameters {
    load_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("charter")
            .as_path(),
    )
    .unwrap()
}

#[test]
fn inspect_delivery_sample_gives_the_api_json() {
    let report = inspect(
        include_bytes!("fixtures/esppadom/delivery-apa-example.xml"),
        &params(),
    );
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(
        value,
        json!({
            "kind": "delivery",
            "interventions": [
                {
                    "id": "INTV-2024-000811", "plan_ref": "PA-APA-0001", "beneficiary_id": "BEN-99-000101",
                    "worker_id": "IV-0417",
                    "raw_start": "2024-01-12T09:00:00+01:00", "raw_end": "2024-01-12T09:52:00+01:00",
                    "counted_start": "2024-01-12T09:00:00+01:00", "counted_end": "2024-01-12T09:52:00+01:00",
                    "correction_reason": null, "counted_minutes": 52, "rounded_minutes": 45, "warnings": []
                },
                {
                    "id": "INTV-2024-000812", "plan_ref": "PA-APA-0001", "beneficiary_id": "BEN-99-000101",
                    "worker_id": "IV-0833",
                    "raw_start": "2024-01-12T14:02:00+01:00", "raw_end": null,
                    "counted_start": "2024-01-12T14:02:00+01:00", "counted_end": "2024-01-12T16:00:00+01:00",
                    "correction_reason": "FORGOTTEN", "counted_minutes": 118, "rounded_minutes": 120, "warnings": []
                }
            ],
            "errors": []
        })
    );
    assert!(!report.has_errors());
}

#[test]
fn inspect_lists_a_line_problem_with_its_position() {
    let xml = std::str::from_utf8(include_bytes!("fixtures/esppadom/delivery-apa-example.xml"))
        .unwrap()
        .replace(
            "<ram:CertifiedDateTime>2024-01-12T09:52:00",
            "<ram:CertifiedDateTime>12/01/2024 09:52",
        );
    let report = inspect(xml.as_bytes(), &params());
    assert_eq!(report.interventions.len(), 2);
    assert_eq!(report.errors.len(), 1);
    assert_eq!((report.errors[0].line, report.errors[0].column), (67, 15));
    assert!(
        report.errors[0]
            .message
            .starts_with("intervention INTV-2024-000811: unreadable stamped departure"),
        "{}",
        report.errors[0].message
    );
    assert_eq!(report.interventions[0].counted_minutes, None);
    assert!(report.has_errors());
}

#[test]
fn inspect_order_and_invoice_list_no_intervention() {
    let order = inspect(
        include_bytes!("fixtures/esppadom/order-apa-example.xml"),
        &params(),
    );
    let value = serde_json::to_value(&order).unwrap();
    assert_eq!(value["kind"], "order");
    assert_eq!(value["interventions"], json!([]));
    assert_eq!(value["errors"], json!([]));
    assert_eq!(value["plans"][0]["monthly_minutes"], 2400);
    assert_eq!(value["plans"][0]["hourly_rate"], "24.00");
    let invoice = inspect(
        include_bytes!("fixtures/esppadom/invoice-apa-example.xml"),
        &params(),
    );
    let value = serde_json::to_value(&invoice).unwrap();
    assert_eq!(value["kind"], "invoice");
    assert_eq!(value["invoices"][0]["lines"][0]["billed_minutes"], 165);
}

#[test]
fn inspect_reports_a_refused_document_with_line_and_column() {
    let report = inspect(
        b"<?xml version=\"1.0\"?>\n<foo xmlns=\"urn:x\"/>",
        &params(),
    );
    assert_eq!(report.kind, None);
    assert_eq!((report.errors[0].line, report.errors[0].column), (2, 1));
    assert!(report.errors[0].message.contains("urn:x"));
}
