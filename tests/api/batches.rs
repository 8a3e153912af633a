//! Payment batches (rules.md R9; api.md `POST /api/v1/batches`).

use reqwest::StatusCode;

use crate::close::SAAD_A;
use crate::helpers::{error_of, json_of, spawn_app};
use crate::invoices::{closed_january, validate};

#[tokio::test]
async fn r9_a_batch_pays_final_invoices_once_and_is_immutable() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    // Nothing final yet: 409.
    let response = app
        .client
        .post(app.url("/batches"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .unwrap();
    error_of(response, StatusCode::CONFLICT, "conflict").await;

    let id = closed_january(&app).await;
    let saad = app.saad_token(SAAD_A).await;
    // A pro-forma is not paid: still 409.
    let response = app
        .client
        .post(app.url("/batches"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .unwrap();
    error_of(response, StatusCode::CONFLICT, "conflict").await;
    json_of(validate(&app, &id, &saad).await, StatusCode::OK).await;
    json_of(validate(&app, &id, &app.financer).await, StatusCode::OK).await;

    // A SAAD may not issue a batch (F).
    let response = app
        .client
        .post(app.url("/batches"))
        .bearer_auth(&saad)
        .send()
        .await
        .unwrap();
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;

    // One payment: SAAD A, 299.43 (the January amount due).
    let response = app
        .client
        .post(app.url("/batches"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .unwrap();
    let batch = json_of(response, StatusCode::CREATED).await;
    assert_eq!(batch["status"], "issued");
    assert_eq!(batch["total"], "299.43");
    assert_eq!(batch["payments"].as_array().unwrap().len(), 1);
    assert_eq!(batch["payments"][0]["saad_siret"], SAAD_A);
    assert_eq!(batch["payments"][0]["amount"], "299.43");
    assert_eq!(batch["payments"][0]["iban"], "FR7630006000011234567890189");
    assert_eq!(batch["payments"][0]["invoice_ids"][0], id.as_str());

    // The invoice is paid; nothing is left to pay; no route changes it.
    let invoice = json_of(
        app.get(&format!("/invoices/{id}"), &app.financer).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(invoice["status"], "paid");
    let response = app
        .client
        .post(app.url("/batches"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .unwrap();
    error_of(response, StatusCode::CONFLICT, "conflict").await;
    error_of(
        validate(&app, &id, &app.financer).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    error_of(
        validate(&app, &id, &saad).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // Listed and read back unchanged.
    let batch_id = batch["id"].as_str().unwrap();
    let listed = json_of(app.get("/batches", &app.financer).await, StatusCode::OK).await;
    assert_eq!(listed["batches"][0], batch);
    let read = json_of(
        app.get(&format!("/batches/{batch_id}"), &app.financer)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read, batch);
    error_of(
        app.get(&format!("/batches/{batch_id}"), &saad).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // The three treasury files are downloadable and carry the batch.
    // The liquidation CSV writes French decimals (299,43).
    for (suffix, needle, amount) in [
        (".csv", "F202401P-73282932000074-APA", "299,43"),
        (".pes.xml", "PES_Aller", "299.43"),
        (".xml", "pain.001.001.09", "299.43"),
    ] {
        let response = app
            .get(&format!("/batches/{batch_id}{suffix}"), &app.financer)
            .await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{suffix}: {text}");
        assert!(text.contains(needle), "{suffix}: {text}");
        assert!(text.contains(amount), "{suffix}: {text}");
    }
    error_of(
        app.get(&format!("/batches/{batch_id}.csv"), &saad).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn r9_a_saad_whose_net_is_negative_gets_no_payment_and_keeps_its_invoices_for_later() {
    use rust_decimal::Decimal;
    use saad_gateway::domain::types::{AidType, YearMonth};
    use saad_gateway::storage::{InvoiceKind, InvoiceRecord, InvoiceStatus};

    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let id = closed_january(&app).await;
    let saad = app.saad_token(crate::close::SAAD_A).await;
    json_of(validate(&app, &id, &saad).await, StatusCode::OK).await;
    json_of(validate(&app, &id, &app.financer).await, StatusCode::OK).await;
    // SAAD B: a final regularisation taking back 10.00 (stored directly).
    crate::close::add_saad(&app.store, crate::close::SAAD_B).await;
    let minus = InvoiceRecord {
        id: "F202401R02-00000000000018-APA".to_owned(),
        saad_siret: crate::close::SAAD_B.to_owned(),
        aid_type: AidType::Apa,
        month: YearMonth::new(2024, 1).unwrap(),
        kind: InvoiceKind::Regularisation,
        status: InvoiceStatus::Final,
        line_count: 0,
        billed_minutes: 0,
        rejected_minutes: 0,
        valued_amount: Decimal::new(-1000, 2),
        participation_amount: Decimal::ZERO,
        amount_due: Decimal::new(-1000, 2),
        created_at: crate::helpers::parse_time("2024-02-01T08:00:00Z"),
        close_run_id: "test".to_owned(),
        batch_id: None,
    };
    app.store.insert_invoice(&minus, &[]).await.unwrap();

    // Net A = 299.43 → paid; net B = −10.00 → no line, invoice stays final.
    let response = app
        .client
        .post(app.url("/batches"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .unwrap();
    let batch = json_of(response, StatusCode::CREATED).await;
    assert_eq!(batch["total"], "299.43");
    assert_eq!(batch["payments"].as_array().unwrap().len(), 1);
    assert_eq!(batch["payments"][0]["saad_siret"], crate::close::SAAD_A);
    let (kept, _) = app
        .store
        .get_invoice(&minus.id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.status, InvoiceStatus::Final);
    assert_eq!(kept.batch_id, None);
    // Only B's negative net is left: nothing to pay, 409.
    let response = app
        .client
        .post(app.url("/batches"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .unwrap();
    error_of(response, StatusCode::CONFLICT, "conflict").await;
}
