//! The dashboards over HTTPS with a cookie-keeping client (issue 7): login
//! with an API token, session cookie flags, CSRF refusals, logout, another
//! SAAD's pages answering 404, pagination, the rejection notice's CSV.

#[path = "web_support/mod.rs"]
mod web_support;

use reqwest::StatusCode;
use saad_gateway::domain::types::YearMonth;
use saad_gateway::storage::MonthStatus;
use web_support::{DemoApp, SAAD_A, SAAD_C, csrf_of, log_in};

#[tokio::test]
async fn login_sets_an_encrypted_http_only_strict_secure_cookie_and_opens_the_saads_notice() {
    let app = DemoApp::start().await;
    let client = app.browser_no_redirect();
    let form = client.get(app.url("/connexion")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.unwrap();
    assert!(
        html.contains("<label for=\"token\">"),
        "labelled field: {html}"
    );
    let token = app.saad_token(SAAD_A);
    let response = client
        .post(app.url("/connexion"))
        .form(&[("token", token.as_str()), ("csrf", &csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-saad_session="))
        .expect("session cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    let hash = saad_gateway::http::auth::hash_token(&token);
    assert!(!cookie.contains(&token) && !cookie.contains(&hash));

    // The landing page is the SAAD's notice of the month before the clock's.
    app.clock.set(web_support::paris(2024, 2, 1, 9)).unwrap();
    let browser = app.browser();
    let page = log_in(&app, &browser, &token).await;
    assert!(page.contains("Avis de rejet — janvier 2024"), "{page}");
    assert!(
        page.contains("PA-APA-0002-0108"),
        "the missing-stamp visit: {page}"
    );
    assert!(page.contains("TIMESTAMP_MISSING"));
    assert!(page.contains("Que faire"));
    assert!(page.contains("<th scope=\"col\">"));
}

#[tokio::test]
async fn an_unknown_token_is_refused_at_login_with_401() {
    let app = DemoApp::start().await;
    let client = app.browser();
    let form = client
        .get(app.url("/connexion"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let response = client
        .post(app.url("/connexion"))
        .form(&[("token", "not-a-real-token"), ("csrf", &csrf_of(&form))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Jeton inconnu ou révoqué")
    );
}

#[tokio::test]
async fn a_login_without_the_forms_csrf_token_is_refused() {
    let app = DemoApp::start().await;
    let client = app.browser();
    // No GET of the form first: no login cookie, whatever token is sent.
    let response = client
        .post(app.url("/connexion"))
        .form(&[("token", app.tokens.financer.as_str()), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = client.get(app.url("/finances/mois")).send().await.unwrap();
    assert!(
        page.url().path().ends_with("/connexion"),
        "still logged out"
    );
}

#[tokio::test]
async fn a_close_posted_without_the_sessions_csrf_token_is_refused_and_closes_nothing() {
    let app = DemoApp::start().await;
    app.clock.set(web_support::paris(2024, 2, 1, 9)).unwrap();
    let client = app.browser();
    log_in(&app, &client, &app.tokens.financer).await;
    for csrf in ["", "forged"] {
        let response = client
            .post(app.url("/finances/mois/2024-01/cloturer"))
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let january = YearMonth::new(2024, 1).unwrap();
    assert_eq!(
        app.store.get_month(january).await.unwrap().status,
        MonthStatus::Open
    );

    // With the page's token, the same form closes the month.
    let months = client
        .get(app.url("/finances/mois"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let response = client
        .post(app.url("/finances/mois/2024-01/cloturer"))
        .form(&[("csrf", csrf_of(&months))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("Le mois a été clôturé"), "{page}");
    assert_eq!(
        app.store.get_month(january).await.unwrap().status,
        MonthStatus::Closed
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = DemoApp::start().await;
    let client = app.browser();
    let page = log_in(&app, &client, &app.saad_token(SAAD_A)).await;
    let response = client
        .post(app.url("/deconnexion"))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert!(response.url().path().ends_with("/connexion"));
    let after = client
        .get(app.url(&format!("/saad/{SAAD_A}/rejets")))
        .send()
        .await
        .unwrap();
    assert!(
        after.url().path().ends_with("/connexion"),
        "logged out: {}",
        after.url()
    );
}

#[tokio::test]
async fn a_saad_session_gets_404_on_another_saads_pages_and_403_on_finance_pages() {
    let app = DemoApp::start().await;
    let client = app.browser();
    let page = log_in(&app, &client, &app.saad_token(SAAD_A)).await;
    for path in [
        "rejets",
        "rejets.csv",
        "rejets/avis",
        "plans",
        "corrections",
        "factures",
    ] {
        let response = client
            .get(app.url(&format!("/saad/{SAAD_C}/{path}?mois=2024-01")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains(SAAD_C) && !body.contains("PA-APA-0006"),
            "nothing leaks: {body}"
        );
    }
    let response = client
        .post(app.url(&format!(
            "/saad/{SAAD_C}/factures/F202401P-{SAAD_C}-APA/valider"
        )))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    for path in [
        "/finances/mois",
        "/finances/factures",
        "/finances/lots",
        "/finances/rejets",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Its own pages open.
    for path in ["rejets", "plans", "corrections", "factures"] {
        let response = client
            .get(app.url(&format!("/saad/{SAAD_A}/{path}?mois=2024-01")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn the_notices_csv_is_the_filtered_notice_with_the_apis_columns() {
    let app = DemoApp::start().await;
    let client = app.browser();
    log_in(&app, &client, &app.saad_token(SAAD_A)).await;
    let response = client
        .get(app.url(&format!(
            "/saad/{SAAD_A}/rejets.csv?mois=2024-01&motif=TIMESTAMP_MISSING"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("code;message;line_id;plan_ref;beneficiary_id")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.iter().any(|r| r.contains("PA-APA-0002-0108")), "{csv}");
    assert!(
        rows.iter().all(|r| r.starts_with("TIMESTAMP_MISSING;")),
        "{csv}"
    );
}

#[tokio::test]
async fn long_tables_are_paginated_fifty_rows_a_page() {
    let app = DemoApp::start().await;
    // 120 more plans for SAAD A in January, straight into storage.
    for i in 0..120 {
        let mut plan = saad_gateway::domain::model::PlanVersion {
            plan_ref: format!("PX-APA-{i:05}"),
            beneficiary_id: format!("BEN-77-{i:06}"),
            ..app.store.plan_versions("PA-APA-0002").await.unwrap()[0].clone()
        };
        plan.version = 1;
        app.store
            .insert_plan_version(&plan, web_support::paris(2024, 1, 2, 8))
            .await
            .unwrap();
    }
    let client = app.browser();
    log_in(&app, &client, &app.saad_token(SAAD_A)).await;
    let page = |n: usize| {
        let client = client.clone();
        let url = app.url(&format!("/saad/{SAAD_A}/plans?mois=2024-01&page={n}"));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = page(1).await;
    let january = YearMonth::new(2024, 1).unwrap();
    let plans: std::collections::BTreeSet<String> = app
        .store
        .saad_plans_in_month(SAAD_A, january)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.plan_ref)
        .collect();
    let total = plans.len();
    assert!(total > 120, "the demo's plans and the 120 added");
    assert!(
        first.contains(&format!("Page 1 sur 3 ({total} lignes)")),
        "{first}"
    );
    assert_eq!(first.matches("<th scope=\"row\">").count(), 50);
    assert!(first.contains("rel=\"next\""));
    let last = page(3).await;
    assert_eq!(last.matches("<th scope=\"row\">").count(), total - 100);
    assert!(!last.contains("rel=\"next\""));
    // The beneficiary filter narrows the table to one plan.
    let one = client
        .get(app.url(&format!(
            "/saad/{SAAD_A}/plans?mois=2024-01&beneficiaire=BEN-77-000042"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(one.matches("<th scope=\"row\">").count(), 1);
    assert!(one.contains("PX-APA-00042"));
}

#[tokio::test]
async fn revoking_the_token_ends_its_open_sessions() {
    let app = DemoApp::start().await;
    let client = app.browser();
    let token = app.saad_token(SAAD_A);
    log_in(&app, &client, &token).await;
    let record = app
        .store
        .find_token_by_hash(&saad_gateway::http::auth::hash_token(&token))
        .await
        .unwrap()
        .expect("token record");
    app.store
        .revoke_token(&record.id, web_support::paris(2024, 1, 31, 12))
        .await
        .unwrap();
    let page = client
        .get(app.url(&format!("/saad/{SAAD_A}/factures")))
        .send()
        .await
        .unwrap();
    assert!(page.url().path().ends_with("/connexion"), "{}", page.url());
}

/// "12 h 05", as the pages write minutes.
fn hours(minutes: i64) -> String {
    format!("{} h {:02}", minutes / 60, minutes % 60)
}

/// The `<tr>` of `plan_ref` in a plan consumption page.
fn plan_row<'a>(page: &'a str, plan_ref: &str) -> &'a str {
    let at = page
        .find(&format!("<th scope=\"row\">{plan_ref}</th>"))
        .unwrap_or_else(|| panic!("{plan_ref} listed: {page}"));
    let end = page[at..].find("</tr>").expect("end of row") + at;
    &page[at..end]
}

#[tokio::test]
async fn r7_the_plan_consumption_page_shows_the_hours_carried_over_from_january_into_february() {
    let app = DemoApp::start().await;
    let client = app.browser();
    let financer = app.tokens.financer.clone();
    let saad = app.saad_token(SAAD_A);
    let api = |path: &str| app.url(&format!("/api/v1{path}"));
    // January closed on 1 February.
    app.clock.set(web_support::paris(2024, 2, 1, 9)).unwrap();
    let closed = client
        .post(api("/months/2024-01/close"))
        .bearer_auth(&financer)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::OK);
    // PA-APA-0002 (1 800 min a month, 52-minute visits on weekdays) used
    // less than its January allotment: R7 carries the rest into February.
    let january = YearMonth::new(2024, 1).unwrap();
    let mut january_line = None;
    for invoice in app
        .store
        .list_invoices(january, Some(SAAD_A))
        .await
        .unwrap()
    {
        let (_, lines) = app
            .store
            .get_invoice(&invoice.id, Some(SAAD_A))
            .await
            .unwrap()
            .unwrap();
        january_line = january_line.or(lines.into_iter().find(|l| l.plan_ref == "PA-APA-0002"));
    }
    let january_line = january_line.expect("PA-APA-0002 invoiced in January");
    assert_eq!(january_line.allotted_minutes, Some(1800));
    assert_eq!(
        january_line.carried_in_minutes,
        Some(0),
        "reset on 1 January"
    );
    assert_eq!(january_line.rejected_minutes, 0, "no overrun in January");
    // No authorisation in the demo: carry into February = allotted − billed.
    let carried = 1800 - january_line.billed_minutes;
    assert!(carried > 0, "unused January hours: {carried}");

    // One 52-minute February visit, then February closed on 1 March.
    app.clock.set(web_support::paris(2024, 2, 5, 20)).unwrap();
    let delivery = serde_json::json!({"transmission_id": "CARRY-20240205", "interventions": [{
        "line_id": "PA-APA-0002-0205", "plan_ref": "PA-APA-0002", "beneficiary_id": "BEN-99-000102",
        "worker_id": "W-A01", "aid_type": "APA", "raw_start": "2024-02-05T08:00:00",
        "raw_end": "2024-02-05T08:52:00", "corrected_start": null, "corrected_end": null,
        "correction_reason": null, "declarative": false, "timesheet_ref": null}]});
    let receipt = client
        .post(api("/deliveries"))
        .bearer_auth(&saad)
        .json(&delivery)
        .send()
        .await
        .unwrap();
    assert!(receipt.status().is_success(), "{:?}", receipt.text().await);
    app.clock.set(web_support::paris(2024, 3, 1, 9)).unwrap();
    let closed = client
        .post(api("/months/2024-02/close"))
        .bearer_auth(&financer)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::OK);

    log_in(&app, &client, &saad).await;
    let page = |month: &str| {
        let client = client.clone();
        let url = app.url(&format!(
            "/saad/{SAAD_A}/plans?mois={month}&beneficiaire=PA-APA-0002"
        ));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    // Columns Alloué, Reporté: February shows January's unused hours.
    let february = page("2024-02").await;
    let row = plan_row(&february, "PA-APA-0002");
    let expected = format!(
        "<td class=\"n\">{}</td><td class=\"n\">{}</td>",
        hours(1800),
        hours(carried)
    );
    assert!(row.contains(&expected), "{expected} in {row}");
    assert!(
        row.contains(&format!("reporté {}", hours(carried))),
        "chart label: {row}"
    );
    assert!(!february.contains("non conservé"));
    // January: nothing carried in (reset on 1 January).
    let january_page = page("2024-01").await;
    let row = plan_row(&january_page, "PA-APA-0002");
    assert!(
        row.contains(&format!(
            "<td class=\"n\">{}</td><td class=\"n\">0 h 00</td>",
            hours(1800)
        )),
        "{row}"
    );
}
