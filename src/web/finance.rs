//! The département's finance pages, under `/finances/`: months and their
//! close, invoices per SAAD and aid type with totals and validation,
//! payment batches and their files, rejections across SAADs.
//!
//! Every action calls the service the API calls (`service::close`,
//! `service::invoices`, `service::batches`, `service::rejections`).

use std::collections::BTreeMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono_tz::Europe::Paris;
use maud::html;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::types::{AidType, YearMonth};
use crate::exports::{FINANCER_FILE, FinancerConfig};
use crate::http::auth::Role;
use crate::http::clock::Clock;
use crate::service::batches::{
    BatchError, BatchFile, BatchFileError, batch_file, create_batch, final_unpaid,
};
use crate::service::close::{CloseError, close_month};
use crate::service::invoices::validate;
use crate::storage::{InvoiceRecord, InvoiceStatus, MonthStatus};

use super::layout::{
    NavItem, PAGE_SIZE, euros, hours, html_response, kind_label, month_label, page, page_slice,
    pager, see_other, status_label,
};
use super::saad::{done_message, invoice_error};
use super::{
    CsrfForm, PageError, PageResult, Pages, Viewer, check_csrf, default_month, parse_month,
    respond, state, viewer,
};

/// How many months the months page lists, back from the clock's month.
pub const MONTHS_LISTED: u32 = 12;

/// Registers the finance pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/finances").route(web::get().to(home)))
        .service(web::resource("/finances/mois").route(web::get().to(months)))
        .service(web::resource("/finances/mois/{mois}/cloturer").route(web::post().to(close)))
        .service(web::resource("/finances/factures").route(web::get().to(invoices)))
        .service(
            web::resource("/finances/factures/{id}/valider")
                .route(web::post().to(validate_invoice)),
        )
        .service(
            web::resource("/finances/lots")
                .route(web::get().to(batches))
                .route(web::post().to(issue_batch)),
        )
        .service(web::resource("/finances/lots/{id}/{format}").route(web::get().to(download)))
        .service(web::resource("/finances/rejets").route(web::get().to(rejections)));
}

/// The finance navigation.
pub fn nav() -> Vec<NavItem> {
    vec![
        ("/finances/mois".to_owned(), "Mois"),
        ("/finances/factures".to_owned(), "Factures"),
        ("/finances/lots".to_owned(), "Lots de paiement"),
        ("/finances/rejets".to_owned(), "Rejets"),
    ]
}

/// The query string of the finance pages.
#[derive(Debug, Default, Deserialize)]
pub struct FinanceQuery {
    mois: Option<String>,
    page: Option<String>,
    fait: Option<String>,
}

/// The financer viewer, or 403 for a SAAD session.
async fn financer(request: &HttpRequest, pages: &Pages) -> Result<Viewer, PageError> {
    let viewer = viewer(request, pages).await?;
    match viewer.principal.role {
        Role::Financer => Ok(viewer),
        Role::Saad { .. } => Err(PageError::Forbidden),
    }
}

fn ok_page(viewer: &Viewer, title: &str, current: &str, body: maud::Markup) -> PageResult {
    let nav = nav();
    let who = viewer.who();
    Ok(html_response(
        StatusCode::OK,
        page(&viewer.frame(title, &nav, current, &who), body),
    ))
}

async fn home() -> HttpResponse {
    see_other("/finances/mois")
}

async fn months(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    query: web::Query<FinanceQuery>,
) -> HttpResponse {
    respond(
        async {
            let viewer = financer(&request, &pages).await?;
            let store = &state(&pages).store;
            let mut month =
                YearMonth::of(clock.now().with_timezone(&Paris).date_naive());
            let mut rows = Vec::new();
            for _ in 0..MONTHS_LISTED {
                let record = store.get_month(month).await?;
                let invoices = store.list_invoices(month, None).await?;
                let due: Decimal = invoices.iter().map(|i| i.amount_due).sum();
                rows.push((record, invoices.len(), due));
                month = month.previous();
            }
            let body = html! {
                @if let Some(message) = done_message(query.fait.as_deref()) {
                    p.notice role="status" { (message) }
                }
                p { "Un mois se clôture une fois terminé (horloge de la plateforme), après les mois précédents qui ont des données. La clôture calcule les factures pro forma et les régularisations des mois déjà clôturés de l'année." }
                table {
                    caption { "Les " (MONTHS_LISTED) " derniers mois" }
                    thead { tr {
                        th scope="col" { "Mois" }
                        th scope="col" { "État" }
                        th.n scope="col" { "Factures" }
                        th.n scope="col" { "Montant dû" }
                        th scope="col" { "Action" }
                    } }
                    tbody {
                        @for (record, count, due) in &rows {
                            tr {
                                th scope="row" { a href=(format!("/finances/factures?mois={}", record.month)) { (month_label(record.month)) } }
                                td {
                                    @match (record.status, record.closed_at) {
                                        (MonthStatus::Closed, Some(at)) => { "clôturé le " (at.with_timezone(&Paris).format("%d/%m/%Y à %H:%M")) }
                                        (MonthStatus::Closed, None) => { "clôturé" }
                                        (MonthStatus::Open, _) => { "ouvert" }
                                    }
                                }
                                td.n { (count) }
                                td.n { (euros(*due)) }
                                td {
                                    @if record.status == MonthStatus::Open {
                                        form.inline method="post" action=(format!("/finances/mois/{}/cloturer", record.month)) {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            button type="submit" aria-label=(format!("Clôturer {}", month_label(record.month))) { "Clôturer" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            };
            ok_page(&viewer, "Mois et clôtures", "/finances/mois", body)
        }
        .await,
    )
}

async fn close(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    respond(
        async {
            let viewer = financer(&request, &pages).await?;
            check_csrf(&viewer, &form.csrf)?;
            let month = parse_month(Some(&path))?.ok_or(PageError::NotFound)?;
            let app = state(&pages);
            match close_month(&app.store, &app.params, month, clock.now()).await {
                Ok(_) => Ok(see_other(&format!(
                    "/finances/factures?mois={month}&fait=cloture"
                ))),
                Err(CloseError::Conflict(message)) => Err(PageError::Conflict(format!(
                    "Clôture de {} refusée : {message}",
                    month_label(month)
                ))),
                Err(CloseError::Rules(error)) => Err(PageError::Internal(error.to_string())),
                Err(CloseError::Store(error)) => Err(error.into()),
            }
        }
        .await,
    )
}

/// Totals of a set of invoices.
#[derive(Default, Clone, Copy)]
struct Totals {
    count: usize,
    billed: i64,
    rejected: i64,
    valued: Decimal,
    participation: Decimal,
    due: Decimal,
}

impl Totals {
    fn add(&mut self, invoice: &InvoiceRecord) {
        self.count += 1;
        self.billed += invoice.billed_minutes;
        self.rejected += invoice.rejected_minutes;
        self.valued += invoice.valued_amount;
        self.participation += invoice.participation_amount;
        self.due += invoice.amount_due;
    }
}

async fn invoices(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    query: web::Query<FinanceQuery>,
) -> HttpResponse {
    respond(
        async {
            let viewer = financer(&request, &pages).await?;
            let month = parse_month(query.mois.as_deref())?.unwrap_or_else(|| default_month(&clock));
            let store = &state(&pages).store;
            let names: BTreeMap<String, String> = store
                .list_saads()
                .await?
                .into_iter()
                .map(|s| (s.siret.to_string(), s.name))
                .collect();
            let mut list = store.list_invoices(month, None).await?;
            list.sort_by(|a, b| {
                (&a.saad_siret, a.aid_type.code(), &a.id).cmp(&(&b.saad_siret, b.aid_type.code(), &b.id))
            });
            let mut per_group: BTreeMap<(String, AidType), Totals> = BTreeMap::new();
            let mut total = Totals::default();
            for invoice in &list {
                per_group
                    .entry((invoice.saad_siret.clone(), invoice.aid_type))
                    .or_default()
                    .add(invoice);
                total.add(invoice);
            }
            let to_validate = list.iter().filter(|i| i.status == InvoiceStatus::SaadValidated).count();
            let (shown, page_no) = page_slice(&list, query.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1));
            let link = |p: usize| format!("/finances/factures?mois={month}&page={p}");
            let name = |siret: &str| names.get(siret).cloned().unwrap_or_default();
            let body = html! {
                @if let Some(message) = done_message(query.fait.as_deref()) {
                    p.notice role="status" { (message) }
                }
                form.filters method="get" action="/finances/factures" {
                    label for="mois" { "Mois" input #mois type="month" name="mois" value=(month.to_string()) required; }
                    button type="submit" { "Afficher" }
                }
                @if list.is_empty() {
                    p.notice { "Aucune facture pour " (month_label(month)) " (mois non clôturé ?)." }
                } @else {
                    p { (to_validate) " facture(s) validée(s) par leur SAAD attendent la validation du département." }
                    table {
                        caption { "Totaux par SAAD et type d'aide" }
                        thead { tr {
                            th scope="col" { "SAAD" }
                            th scope="col" { "Aide" }
                            th.n scope="col" { "Factures" }
                            th.n scope="col" { "Facturé" }
                            th.n scope="col" { "Rejeté" }
                            th.n scope="col" { "Valorisé" }
                            th.n scope="col" { "Participation" }
                            th.n scope="col" { "Montant dû" }
                        } }
                        tbody {
                            @for ((siret, aid), t) in &per_group {
                                tr {
                                    th scope="row" { a href=(format!("/saad/{siret}/factures?mois={month}")) { (name(siret)) } " " span.muted { (siret) } }
                                    td { (aid) }
                                    td.n { (t.count) }
                                    td.n { (hours(t.billed)) }
                                    td.n { (hours(t.rejected)) }
                                    td.n { (euros(t.valued)) }
                                    td.n { (euros(t.participation)) }
                                    td.n { (euros(t.due)) }
                                }
                            }
                        }
                        tfoot { tr {
                            th scope="row" colspan="2" { "Total" }
                            td.n { (total.count) }
                            td.n { (hours(total.billed)) }
                            td.n { (hours(total.rejected)) }
                            td.n { (euros(total.valued)) }
                            td.n { (euros(total.participation)) }
                            td.n { (euros(total.due)) }
                        } }
                    }
                    h2 { "Factures" }
                    (pager(page_no, list.len(), link))
                    table {
                        caption { (list.len()) " facture(s), " (PAGE_SIZE) " par page" }
                        thead { tr {
                            th scope="col" { "Facture" }
                            th scope="col" { "SAAD" }
                            th scope="col" { "Aide" }
                            th scope="col" { "Type" }
                            th scope="col" { "Statut" }
                            th.n scope="col" { "Montant dû" }
                            th scope="col" { "Action" }
                        } }
                        tbody {
                            @for invoice in shown {
                                tr {
                                    th scope="row" { (invoice.id) }
                                    td { (name(&invoice.saad_siret)) }
                                    td { (invoice.aid_type) }
                                    td { (kind_label(invoice.kind)) }
                                    td { (status_label(invoice.status)) }
                                    td.n { (euros(invoice.amount_due)) }
                                    td {
                                        @if invoice.status == InvoiceStatus::SaadValidated {
                                            form.inline method="post" action=(format!("/finances/factures/{}/valider", invoice.id)) {
                                                input type="hidden" name="csrf" value=(viewer.csrf);
                                                button type="submit" aria-label=(format!("Valider la facture {}", invoice.id)) { "Valider" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    (pager(page_no, list.len(), link))
                }
            };
            ok_page(&viewer, &format!("Factures — {}", month_label(month)), "/finances/factures", body)
        }
        .await,
    )
}

async fn validate_invoice(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    respond(
        async {
            let viewer = financer(&request, &pages).await?;
            check_csrf(&viewer, &form.csrf)?;
            let id = path.into_inner();
            let summary = validate(&state(&pages).store, &id, None, clock.now())
                .await
                .map_err(invoice_error)?;
            Ok(see_other(&format!(
                "/finances/factures?mois={}&fait=valide",
                summary.month
            )))
        }
        .await,
    )
}

/// The downloadable files of a batch: path segment, label, service file,
/// media type, file suffix.
const FILES: [(&str, &str, BatchFile, &str, &str); 3] = [
    (
        "csv",
        "CSV de liquidation",
        BatchFile::Csv,
        "text/csv; charset=utf-8",
        "csv",
    ),
    (
        "pes",
        "PES V2",
        BatchFile::Pes,
        "application/xml; charset=utf-8",
        "pes.xml",
    ),
    (
        "pain001",
        "Virement SEPA (pain.001)",
        BatchFile::Pain001,
        "application/xml; charset=utf-8",
        "pain001.xml",
    ),
];

async fn batches(
    request: HttpRequest,
    pages: web::Data<Pages>,
    query: web::Query<FinanceQuery>,
) -> HttpResponse {
    respond(
        async {
            let viewer = financer(&request, &pages).await?;
            let store = &state(&pages).store;
            let unpaid = final_unpaid(store).await?;
            let unpaid_due: Decimal = unpaid.iter().map(|i| i.amount_due).sum();
            let mut list = store.list_payment_batches().await?;
            list.reverse();
            let (shown, page_no) = page_slice(&list, query.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1));
            let body = html! {
                @if let Some(message) = done_message(query.fait.as_deref()) {
                    p.notice role="status" { (message) }
                }
                section {
                    h2 { "Émettre un lot" }
                    p { (unpaid.len()) " facture(s) définitive(s) non payée(s), montant dû " (euros(unpaid_due)) ". Un lot paie, par SAAD, la somme de ses factures définitives lorsqu'elle est positive." }
                    form method="post" action="/finances/lots" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        button type="submit" { "Émettre un lot de paiement" }
                    }
                }
                h2 { "Lots émis" }
                @if list.is_empty() {
                    p { "Aucun lot émis." }
                } @else {
                    (pager(page_no, list.len(), |p| format!("/finances/lots?page={p}")))
                    table {
                        caption { "Lots de paiement, du plus récent au plus ancien" }
                        thead { tr {
                            th scope="col" { "Lot" }
                            th scope="col" { "Émis le" }
                            th.n scope="col" { "Paiements" }
                            th.n scope="col" { "Total" }
                            th scope="col" { "Fichiers" }
                        } }
                        tbody {
                            @for batch in shown {
                                tr {
                                    th scope="row" { (batch.id) }
                                    td { (batch.created_at.with_timezone(&Paris).format("%d/%m/%Y %H:%M")) }
                                    td.n { (batch.payments.len()) }
                                    td.n { (euros(batch.total)) }
                                    td.downloads {
                                        @for (segment, label, _, _, _) in FILES {
                                            a href=(format!("/finances/lots/{}/{segment}", batch.id)) download { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            };
            ok_page(&viewer, "Lots de paiement", "/finances/lots", body)
        }
        .await,
    )
}

async fn issue_batch(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    respond(
        async {
            let viewer = financer(&request, &pages).await?;
            check_csrf(&viewer, &form.csrf)?;
            match create_batch(&state(&pages).store, clock.now()).await {
                Ok(_) => Ok(see_other("/finances/lots?fait=lot")),
                Err(BatchError::Conflict(message)) => {
                    Err(PageError::Conflict(format!("Lot refusé : {message}")))
                }
                Err(BatchError::Store(error)) => Err(error.into()),
            }
        }
        .await,
    )
}

async fn download(
    request: HttpRequest,
    pages: web::Data<Pages>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    respond(
        async {
            financer(&request, &pages).await?;
            let (id, segment) = path.into_inner();
            let (_, _, file, media, suffix) = FILES
                .iter()
                .find(|f| f.0 == segment)
                .copied()
                .ok_or(PageError::NotFound)?;
            let config = FinancerConfig::load(&crate::charter::default_dir().join(FINANCER_FILE))
                .map_err(|e| PageError::Internal(e.to_string()))?;
            let body = batch_file(&state(&pages).store, config, &id, file)
                .await
                .map_err(|error| match error {
                    BatchFileError::NotFound => PageError::NotFound,
                    BatchFileError::Store(error) => error.into(),
                    BatchFileError::Export(error) => PageError::Unprocessable(format!(
                        "Le fichier ne peut pas être produit : {error}"
                    )),
                    other => PageError::Internal(other.to_string()),
                })?;
            Ok(HttpResponse::Ok()
                .content_type(media)
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"lot-{id}.{suffix}\""),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(body))
        }
        .await,
    )
}

async fn rejections(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    query: web::Query<FinanceQuery>,
) -> HttpResponse {
    respond(
        async {
            let viewer = financer(&request, &pages).await?;
            let month = parse_month(query.mois.as_deref())?.unwrap_or_else(|| default_month(&clock));
            let app = state(&pages);
            let mut per_saad = Vec::new();
            let mut reasons: BTreeMap<String, (usize, i64, String)> = BTreeMap::new();
            for saad in app.store.list_saads().await? {
                let siret = saad.siret.to_string();
                let notice = crate::service::rejections::rejection_notice(&app.store, &app.params, &siret, month)
                    .await
                    .map_err(|error| match error {
                        crate::service::rejections::RejectionsError::Store(error) => error.into(),
                        other => PageError::Internal(other.to_string()),
                    })?;
                let minutes: i64 = notice.lines.iter().filter_map(|l| l.minutes).sum();
                for line in &notice.lines {
                    let entry = reasons.entry(line.code.clone()).or_insert((0, 0, line.message.clone()));
                    entry.0 += 1;
                    entry.1 += line.minutes.unwrap_or(0);
                }
                if !notice.lines.is_empty() {
                    per_saad.push((siret, saad.name, notice.lines.len(), minutes));
                }
            }
            per_saad.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
            per_saad.truncate(10);
            let mut common: Vec<(String, (usize, i64, String))> = reasons.into_iter().collect();
            common.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
            let body = html! {
                form.filters method="get" action="/finances/rejets" {
                    label for="mois" { "Mois" input #mois type="month" name="mois" value=(month.to_string()) required; }
                    button type="submit" { "Afficher" }
                }
                table {
                    caption { "Les dix SAAD qui ont le plus de rejets" }
                    thead { tr {
                        th scope="col" { "Rang" }
                        th scope="col" { "SAAD" }
                        th.n scope="col" { "Interventions rejetées" }
                        th.n scope="col" { "Durée non payée" }
                    } }
                    tbody {
                        @for (rank, (siret, name, count, minutes)) in per_saad.iter().enumerate() {
                            tr {
                                td.n { (rank + 1) }
                                th scope="row" { a href=(format!("/saad/{siret}/rejets?mois={month}")) { (name) } " " span.muted { (siret) } }
                                td.n { (count) }
                                td.n { (hours(*minutes)) }
                            }
                        }
                    }
                }
                @if per_saad.is_empty() { p.notice { "Aucun rejet pour " (month_label(month)) "." } }
                table {
                    caption { "Motifs les plus fréquents" }
                    thead { tr {
                        th scope="col" { "Motif" }
                        th.n scope="col" { "Interventions" }
                        th.n scope="col" { "Durée non payée" }
                        th scope="col" { "Explication" }
                    } }
                    tbody {
                        @for (code, (count, minutes, message)) in &common {
                            tr {
                                th scope="row" { (code) }
                                td.n { (count) }
                                td.n { (hours(*minutes)) }
                                td { (message) }
                            }
                        }
                    }
                }
            };
            ok_page(&viewer, &format!("Rejets — {}", month_label(month)), "/finances/rejets", body)
        }
        .await,
    )
}
