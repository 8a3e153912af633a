//! `schemas/openapi.yaml` describes exactly the routes the gateway
//! registers: it parses as OpenAPI 3, its (method, path) pairs equal
//! `routes::gateway_routes()` (the table `configure` registers from), and
//! every registered route answers on the real server (never "no such route"
//! nor 405).

use std::collections::BTreeSet;

use openapiv3::{OpenAPI, PathItem, ReferenceOr};
use reqwest::{Method, StatusCode};
use saad_gateway::http::routes::gateway_routes;
use serde_json::Value;

use crate::helpers::spawn_app;

const OPENAPI: &str = include_str!("../../schemas/openapi.yaml");

fn document() -> OpenAPI {
    serde_norway::from_str(OPENAPI)
        .unwrap_or_else(|error| panic!("schemas/openapi.yaml is not OpenAPI 3: {error}"))
}

fn methods(item: &PathItem) -> Vec<&'static str> {
    [
        ("GET", item.get.is_some()),
        ("PUT", item.put.is_some()),
        ("POST", item.post.is_some()),
        ("DELETE", item.delete.is_some()),
        ("OPTIONS", item.options.is_some()),
        ("HEAD", item.head.is_some()),
        ("PATCH", item.patch.is_some()),
        ("TRACE", item.trace.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

/// `(method, path)`.
type Route = (String, String);
/// `(method, path, registered path serving it)`.
type ServedBy = (String, String, String);

/// (method, path) of every operation, and the suffixed paths with the
/// registered path serving them (`x-served-by`).
fn documented() -> (BTreeSet<Route>, Vec<ServedBy>) {
    let document = document();
    let mut routes = BTreeSet::new();
    let mut served_by = Vec::new();
    for (path, item) in &document.paths.paths {
        let ReferenceOr::Item(item) = item else {
            panic!("{path}: path items are written inline")
        };
        let target = item
            .extensions
            .get("x-served-by")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        for method in methods(item) {
            match &target {
                Some(target) => {
                    served_by.push((method.to_owned(), path.clone(), target.clone()));
                }
                None => {
                    routes.insert((method.to_owned(), path.clone()));
                }
            }
        }
    }
    (routes, served_by)
}

#[test]
fn the_openapi_file_lists_exactly_the_routes_the_server_registers() {
    let registered: BTreeSet<Route> = gateway_routes().into_iter().collect();
    let (documented, served_by) = documented();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty() && unregistered.is_empty(),
        "registered but not in schemas/openapi.yaml: {undocumented:?}; \
         in schemas/openapi.yaml but not registered: {unregistered:?}"
    );
    for (method, path, target) in served_by {
        assert!(
            registered.contains(&(method.clone(), target.clone())),
            "{method} {path} says it is served by {target}, which is not registered for {method}"
        );
    }
}

#[test]
fn every_operation_documents_its_error_shape() {
    let document = document();
    for (path, item) in &document.paths.paths {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        for (method, operation) in item.iter() {
            let failures: Vec<_> = operation
                .responses
                .responses
                .iter()
                .filter(|(status, _)| !status.to_string().starts_with('2'))
                .collect();
            if path.starts_with("/api/v1") {
                assert!(
                    !failures.is_empty(),
                    "{method} {path} documents no error response"
                );
            }
            for (status, response) in failures {
                let reference = match response {
                    ReferenceOr::Reference { reference } => reference.clone(),
                    ReferenceOr::Item(_) if path == "/healthz" => continue,
                    ReferenceOr::Item(_) => String::new(),
                };
                assert!(
                    reference.starts_with("#/components/responses/"),
                    "{method} {path} {status}: errors use the shared Error responses"
                );
            }
        }
    }
}

/// A concrete path for a pattern.
fn concrete(path: &str) -> String {
    path.replace("{month}", "2024-01")
        .replace("{id}", "unknown-id")
}

#[tokio::test]
async fn every_registered_route_is_served_by_the_running_gateway() {
    let app = spawn_app("2024-02-10T08:00:00+01:00").await;
    for (method, path) in gateway_routes() {
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let response = app
            .client
            .request(method.clone(), format!("{}{}", app.base, concrete(&path)))
            .bearer_auth(&app.financer)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        assert!(
            !(status == StatusCode::NOT_FOUND && body["error"]["message"] == "no such route"),
            "{method} {path} is not served: {body}"
        );
    }
}
