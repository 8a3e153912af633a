//! Two gateway processes (the real binary) on one PostgreSQL database: the
//! same deliveries sent to both at once and the same month closed from both
//! leave one copy of each intervention and one set of invoices.

use reqwest::StatusCode;
use saad_gateway::service::tokens::create_token;
use saad_gateway::storage::{Store, TokenRole};
use serde_json::{Value, json};

use crate::helpers::TestDb;
use crate::process::Gateway;
use crate::world::{self, BEN_A, PLAN_A, SAAD_A};

fn delivery(n: usize) -> Value {
    let base = chrono::DateTime::parse_from_rfc3339("2024-01-11T07:30:00+01:00").expect("time");
    let lines: Vec<Value> = (0..5)
        .map(|k| {
            let start =
                base + chrono::Duration::minutes(i64::try_from((n * 5 + k) * 30).expect("m"));
            let end = start + chrono::Duration::minutes(20);
            world::json_line(
                &format!("C-{n}-{k}"),
                PLAN_A,
                BEN_A,
                &start.to_rfc3339(),
                &end.to_rfc3339(),
            )
        })
        .collect();
    json!({"transmission_id": format!("TC-{n}"), "interventions": lines})
}

/// Posts until it is not 503 (a lock timeout is a documented, retryable answer).
async fn post_until_taken(
    gateway: &Gateway,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    for _ in 0..20 {
        let mut request = gateway.client.post(gateway.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("send");
        let status = response.status();
        let mut value: Value = response.json().await.expect("json");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        }
        if let Some(invoices) = value.get_mut("invoices").and_then(Value::as_array_mut) {
            invoices.sort_by_key(|i| i["id"].as_str().unwrap_or_default().to_owned());
        }
        return (status, value);
    }
    panic!("{path}: 503 twenty times");
}

async fn count(store: &Store, sql: &str) -> i64 {
    let Store::Postgres(s) = store else {
        unreachable!("postgres")
    };
    sqlx::query_scalar(sql)
        .fetch_one(s.pool())
        .await
        .expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgres_store_each_intervention_once_and_close_the_month_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = db.store.clone();
    store.migrate().await.expect("migrate");
    let url = match &store {
        Store::Postgres(s) => format!(
            "{}/{}",
            std::env::var("SAADGW_TEST_PG")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned()),
            s.pool().connect_options().get_database().expect("name")
        ),
        Store::Sqlite(_) => unreachable!(),
    };
    let financer = create_token(&store, TokenRole::Financer, None)
        .await
        .expect("token");
    let token = create_token(&store, TokenRole::Saad, Some(SAAD_A))
        .await
        .expect("token");
    let (dir1, dir2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let one = Gateway::start(&url, dir1.path());
    let two = Gateway::start(&url, dir2.path());
    for gateway in [&one, &two] {
        gateway.set_now(&financer, world::RECEIVED).await;
    }
    for siret in [SAAD_A, world::SAAD_B] {
        let response = one
            .post_json("/saads", &financer, &world::saad_json(siret))
            .await
            .expect("saad");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let plans = json!({"plans": [world::plan_json(PLAN_A, SAAD_A, BEN_A)]});
    // The same plans from both: one version.
    let (a, b) = tokio::join!(
        post_until_taken(&one, "/orders", &financer, Some(&plans)),
        post_until_taken(&two, "/orders", &financer, Some(&plans))
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(store.plan_versions(PLAN_A).await.expect("plans").len(), 1);

    const DELIVERIES: usize = 12;
    for n in 0..DELIVERIES {
        let body = delivery(n);
        let (a, b) = tokio::join!(
            post_until_taken(&one, "/deliveries", &token, Some(&body)),
            post_until_taken(&two, "/deliveries", &token, Some(&body))
        );
        assert_eq!(a.0, StatusCode::OK, "{}", a.1);
        assert_eq!(b.0, StatusCode::OK, "{}", b.1);
        assert_eq!(a.1, b.1, "both gateways give the same receipt for TC-{n}");
    }
    let lines = i64::try_from(DELIVERIES * 5).expect("n");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM receipts").await,
        i64::try_from(DELIVERIES).expect("n")
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM intervention_versions").await,
        lines
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM current_interventions").await,
        lines
    );

    for gateway in [&one, &two] {
        gateway
            .set_now(&financer, "2024-02-05T10:00:00+01:00")
            .await;
    }
    let (a, b) = tokio::join!(
        post_until_taken(&one, "/months/2024-01/close", &financer, None),
        post_until_taken(&two, "/months/2024-01/close", &financer, None)
    );
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, StatusCode::OK, "{}", b.1);
    assert_eq!(a.1, b.1, "both closes answer the same invoices");
    let invoices = a.1["invoices"].as_array().expect("invoices").len();
    assert!(invoices >= 1);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM invoices").await,
        i64::try_from(invoices).expect("n")
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM months WHERE status = 'closed'"
        )
        .await,
        1
    );
    one.kill();
    two.kill();
    drop(db);
}
