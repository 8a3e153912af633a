//! A SAAD's pages, under `/saad/{siret}/`: the month's rejection notice
//! (grouped by reason, filters, CSV, printable notice), plan consumption,
//! correction rate per month, invoices and their validation.
//!
//! A SAAD session sees only its own SIRET (another SIRET answers 404, as
//! in the API); the financer may open any registered SAAD's pages.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Datelike;
use chrono_tz::Europe::Paris;
use futures_util::TryStreamExt;
use maud::{Markup, html};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use crate::domain::checks::CorrectionRate;
use crate::domain::types::YearMonth;
use crate::http::auth::Role;
use crate::http::clock::Clock;
use crate::service::invoices::{InvoiceError, validate};
use crate::service::rejections::{
    RejectionLine, RejectionNotice, RejectionsError, rejection_notice,
};
use crate::storage::{InvoiceStatus, MonthStatus};

use super::layout::{
    NavItem, PAGE_SIZE, euros, hours, html_response, kind_label, month_label, page, page_slice,
    pager, see_other, status_label,
};
use super::{
    CsrfForm, PageError, Pages, Viewer, check_csrf, default_month, parse_month, respond, state,
    viewer,
};

/// Registers the SAAD pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/saad/{siret}").route(web::get().to(home)))
        .service(web::resource("/saad/{siret}/rejets").route(web::get().to(rejections)))
        .service(web::resource("/saad/{siret}/rejets.csv").route(web::get().to(rejections_csv)))
        .service(web::resource("/saad/{siret}/rejets/avis").route(web::get().to(printable)))
        .service(web::resource("/saad/{siret}/plans").route(web::get().to(plans)))
        .service(web::resource("/saad/{siret}/corrections").route(web::get().to(corrections)))
        .service(web::resource("/saad/{siret}/factures").route(web::get().to(invoices)))
        .service(
            web::resource("/saad/{siret}/factures/{id}/valider")
                .route(web::post().to(validate_invoice)),
        );
}

/// The query string of the SAAD pages (all optional, parsed by hand so a
/// bad value gets a French page rather than a JSON error).
#[derive(Debug, Default, Deserialize)]
pub struct SaadQuery {
    mois: Option<String>,
    beneficiaire: Option<String>,
    motif: Option<String>,
    page: Option<String>,
    annee: Option<String>,
    fait: Option<String>,
}

impl SaadQuery {
    fn page(&self) -> usize {
        self.page
            .as_deref()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(1)
    }

    fn beneficiary(&self) -> Option<&str> {
        self.beneficiaire
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
    }

    fn reason(&self) -> Option<&str> {
        self.motif
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
    }
}

/// The SAAD navigation.
pub fn nav(siret: &str) -> Vec<NavItem> {
    vec![
        (format!("/saad/{siret}/rejets"), "Avis de rejet"),
        (format!("/saad/{siret}/plans"), "Consommation des plans"),
        (format!("/saad/{siret}/corrections"), "Taux de correction"),
        (format!("/saad/{siret}/factures"), "Factures"),
    ]
}

/// Checks that the viewer may see `siret`'s pages: its own SIRET for a SAAD
/// (404 otherwise, nothing leaks), any registered SAAD for the financer.
async fn scope(pages: &Pages, viewer: &Viewer, siret: &str) -> Result<(), PageError> {
    match &viewer.principal.role {
        Role::Saad { siret: own } if own == siret => Ok(()),
        Role::Saad { .. } => Err(PageError::NotFound),
        Role::Financer => match state(pages).store.get_saad(siret).await? {
            Some(_) => Ok(()),
            None => Err(PageError::NotFound),
        },
    }
}

/// The navigation of the viewer on a SAAD page.
fn nav_for(viewer: &Viewer, siret: &str) -> Vec<NavItem> {
    match viewer.principal.role {
        Role::Financer => super::finance::nav(),
        Role::Saad { .. } => nav(siret),
    }
}

fn query_string(pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

fn month_form(action: &str, month: YearMonth, extra: Markup) -> Markup {
    html! {
        form.filters method="get" action=(action) {
            label for="mois" { "Mois" input #mois type="month" name="mois" value=(month.to_string()) required; }
            (extra)
            button type="submit" { "Afficher" }
        }
    }
}

async fn home(path: web::Path<String>) -> HttpResponse {
    see_other(&format!("/saad/{}/rejets", path.into_inner()))
}

/// The notice of the month, through the same service as the API.
async fn notice(
    pages: &Pages,
    siret: &str,
    month: YearMonth,
) -> Result<RejectionNotice, PageError> {
    let app = state(pages);
    rejection_notice(&app.store, &app.params, siret, month)
        .await
        .map_err(|error| match error {
            RejectionsError::Store(error) => error.into(),
            RejectionsError::Parameters(error) => PageError::Internal(error.to_string()),
        })
}

/// What the three notice pages (HTML, CSV, printable) start with: the
/// viewer, allowed to see `siret`, the month asked (default: the clock's
/// previous month) and its notice.
async fn scoped_notice(
    request: &HttpRequest,
    pages: &Pages,
    clock: &Clock,
    siret: String,
    query: &SaadQuery,
) -> Result<(Viewer, String, YearMonth, RejectionNotice), PageError> {
    let viewer = viewer(request, pages).await?;
    scope(pages, &viewer, &siret).await?;
    let month = parse_month(query.mois.as_deref())?.unwrap_or_else(|| default_month(clock));
    let notice = notice(pages, &siret, month).await?;
    Ok((viewer, siret, month, notice))
}

/// The notice's lines kept by the filters, sorted by reason, day, id.
fn filtered<'a>(notice: &'a RejectionNotice, query: &SaadQuery) -> Vec<&'a RejectionLine> {
    let beneficiary = query.beneficiary().map(str::to_lowercase);
    let mut lines: Vec<&RejectionLine> = notice
        .lines
        .iter()
        .filter(|l| query.reason().is_none_or(|r| l.code == r))
        .filter(|l| {
            beneficiary.as_deref().is_none_or(|b| {
                l.beneficiary_id
                    .as_deref()
                    .is_some_and(|id| id.to_lowercase().contains(b))
            })
        })
        .collect();
    lines.sort_by(|a, b| (&a.code, a.day, &a.line_id).cmp(&(&b.code, b.day, &b.line_id)));
    lines
}

/// One reason of the notice: its lines' count and minutes.
struct ReasonGroup<'a> {
    first: &'a RejectionLine,
    count: usize,
    minutes: i64,
}

fn groups<'a>(lines: &[&'a RejectionLine]) -> Vec<ReasonGroup<'a>> {
    let mut out: Vec<ReasonGroup<'a>> = Vec::new();
    for line in lines {
        match out.iter_mut().find(|g| g.first.code == line.code) {
            Some(group) => {
                group.count += 1;
                group.minutes += line.minutes.unwrap_or(0);
            }
            None => out.push(ReasonGroup {
                first: line,
                count: 1,
                minutes: line.minutes.unwrap_or(0),
            }),
        }
    }
    out
}

fn lines_table(lines: &[&RejectionLine]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "Intervention" }
                th scope="col" { "Plan" }
                th scope="col" { "Bénéficiaire" }
                th scope="col" { "Jour" }
                th.n scope="col" { "Durée non payée" }
            } }
            tbody {
                @for line in lines {
                    tr {
                        td { (line.line_id.as_deref().unwrap_or("—")) }
                        td { (line.plan_ref.as_deref().unwrap_or("—")) }
                        td { (line.beneficiary_id.as_deref().unwrap_or("—")) }
                        td { (line.day.map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_else(|| "—".to_owned())) }
                        td.n { (line.minutes.map(hours).unwrap_or_else(|| "—".to_owned())) }
                    }
                }
            }
        }
    }
}

/// The lines grouped by reason, each with its explanation and remedy.
fn grouped_sections(lines: &[&RejectionLine]) -> Markup {
    html! {
        @for group in groups(lines) {
            section.reason aria-labelledby=(format!("motif-{}", group.first.code)) {
                h3 #(format!("motif-{}", group.first.code)) {
                    (group.first.code) " — " (group.count) " intervention(s)"
                }
                p { strong { "Explication : " } (group.first.message) }
                p { strong { "Que faire : " } (group.first.remedy) }
                @let in_group: Vec<&RejectionLine> = lines.iter().copied().filter(|l| l.code == group.first.code).collect();
                (lines_table(&in_group))
            }
        }
    }
}

async fn rejections(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
    query: web::Query<SaadQuery>,
) -> HttpResponse {
    respond(
        async {
            let (viewer, siret, month, notice) =
                scoped_notice(&request, &pages, &clock, path.into_inner(), &query).await?;
            let lines = filtered(&notice, &query);
            let summary = groups(&lines);
            let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
            for line in &notice.lines {
                *codes.entry(line.code.as_str()).or_default() += 1;
            }
            let (page_lines, page_no) = page_slice(&lines, query.page());
            let base = format!("/saad/{siret}/rejets");
            let filters = vec![
                ("mois", month.to_string()),
                ("beneficiaire", query.beneficiary().unwrap_or_default().to_owned()),
                ("motif", query.reason().unwrap_or_default().to_owned()),
            ];
            let qs = query_string(&filters);
            let link = |p: usize| {
                let mut pairs = filters.clone();
                pairs.push(("page", p.to_string()));
                format!("{base}?{}", query_string(&pairs))
            };
            let nav = nav_for(&viewer, &siret);
            let who = viewer.who();
            let title = format!("Avis de rejet — {}", month_label(month));
            let body = html! {
                (month_form(&base, month, html! {
                    label for="beneficiaire" { "Bénéficiaire" input #beneficiaire type="search" name="beneficiaire" value=(query.beneficiary().unwrap_or_default()) placeholder="BEN-…"; }
                    label for="motif" { "Motif"
                        select #motif name="motif" {
                            option value="" { "Tous les motifs" }
                            @for (code, count) in &codes {
                                option value=(code) selected[query.reason() == Some(*code)] { (code) " (" (count) ")" }
                            }
                        }
                    }
                }))
                p.downloads.noprint {
                    a href=(format!("{base}.csv?{qs}")) download { "Télécharger en CSV" }
                    a href=(format!("{base}/avis?{qs}")) { "Avis imprimable" }
                }
                @if notice.lines.is_empty() {
                    p.notice { "Aucune intervention rejetée pour ce mois." }
                } @else {
                    table {
                        caption { "Synthèse par motif (" (lines.len()) " intervention(s) sur " (notice.lines.len()) ")" }
                        thead { tr {
                            th scope="col" { "Motif" }
                            th.n scope="col" { "Interventions" }
                            th.n scope="col" { "Durée non payée" }
                            th scope="col" { "Explication" }
                            th scope="col" { "Que faire" }
                        } }
                        tbody {
                            @for group in &summary {
                                tr {
                                    th scope="row" { (group.first.code) }
                                    td.n { (group.count) }
                                    td.n { (hours(group.minutes)) }
                                    td { (group.first.message) }
                                    td { (group.first.remedy) }
                                }
                            }
                        }
                    }
                    h2 { "Détail par motif" }
                    (pager(page_no, lines.len(), link))
                    (grouped_sections(page_lines))
                    (pager(page_no, lines.len(), link))
                }
            };
            Ok(html_response(
                StatusCode::OK,
                page(&viewer.frame(&title, &nav, &base, &who), body),
            ))
        }
        .await,
    )
}

async fn rejections_csv(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
    query: web::Query<SaadQuery>,
) -> HttpResponse {
    respond(
        async {
            let (_viewer, siret, month, full) =
                scoped_notice(&request, &pages, &clock, path.into_inner(), &query).await?;
            let kept = RejectionNotice {
                month,
                saad_siret: siret.clone(),
                lines: filtered(&full, &query).into_iter().cloned().collect(),
            };
            let body = crate::http::routes::rejections::to_csv(&kept)
                .map_err(|e| PageError::Internal(e.to_string()))?;
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((
                    actix_web::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"rejets-{siret}-{month}.csv\""),
                ))
                .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                .body(body))
        }
        .await,
    )
}

async fn printable(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
    query: web::Query<SaadQuery>,
) -> HttpResponse {
    respond(
        async {
            let (viewer, siret, month, full) =
                scoped_notice(&request, &pages, &clock, path.into_inner(), &query).await?;
            let lines = filtered(&full, &query);
            let saad = state(&pages).store.get_saad(&siret).await?;
            let now = clock.now().with_timezone(&Paris);
            let nav = nav_for(&viewer, &siret);
            let who = viewer.who();
            let title = format!("Avis de rejet — {}", month_label(month));
            let total: i64 = lines.iter().filter_map(|l| l.minutes).sum();
            let body = html! {
                p.noprint.notice { "Version imprimable : utilisez la commande « Imprimer » de votre navigateur (la navigation et les formulaires ne sont pas imprimés)." }
                dl {
                    dt { "Service" } dd { (saad.map(|s| s.name).unwrap_or_default()) " — SIRET " (siret) }
                    dt { "Mois" } dd { (month_label(month)) }
                    dt { "Édité le" } dd { (now.format("%d/%m/%Y à %H:%M")) }
                    dt { "Interventions rejetées" } dd { (lines.len()) " (" (hours(total)) " non payées)" }
                }
                @if lines.is_empty() {
                    p { "Aucune intervention rejetée pour ce mois." }
                } @else {
                    (grouped_sections(&lines))
                }
            };
            Ok(html_response(
                StatusCode::OK,
                page(&viewer.frame(&title, &nav, "", &who), body),
            ))
        }
        .await,
    )
}

/// One plan's consumption in the month.
struct Consumption {
    plan_ref: String,
    beneficiary_id: String,
    aid_type: String,
    allotted: Option<i64>,
    /// R7 carry-over into the month, as stored by the close.
    carried: Option<i64>,
    billed: i64,
    rejected: i64,
    refused: i64,
}

/// A small bar chart: allotted (white frame) followed by the hours
/// carried over (grey frame), that is what the month could use without an
/// authorisation; billed (blue) and rejected (red) bars over it.
fn consumption_chart(c: &Consumption) -> Markup {
    const WIDTH: i64 = 160;
    let allotted = c.allotted.unwrap_or(0);
    let carried = c.carried.unwrap_or(0);
    let scale = (allotted + carried).max(c.billed + c.rejected).max(1);
    let w = |minutes: i64| minutes.clamp(0, scale) * WIDTH / scale;
    let unknown = || "inconnu".to_owned();
    let label = format!(
        "Alloué {}, reporté {}, facturé {}, rejeté {}",
        c.allotted.map(hours).unwrap_or_else(unknown),
        c.carried.map(hours).unwrap_or_else(unknown),
        hours(c.billed),
        hours(c.rejected)
    );
    html! {
        svg width=(WIDTH + 2) height="16" viewBox=(format!("0 0 {} 16", WIDTH + 2)) role="img" aria-label=(label) {
            title { (label) }
            rect x="1" y="1" width=(w(allotted)) height="14" fill="#ffffff" stroke="#1b1b1b" {}
            @if carried > 0 {
                rect x=(1 + w(allotted)) y="1" width=(w(carried)) height="14" fill="#d0d0d0" stroke="#1b1b1b" {}
            }
            rect x="1" y="3" width=(w(c.billed)) height="10" fill="#0b4f9c" {}
            rect x=(1 + w(c.billed)) y="3" width=(w(c.rejected)) height="10" fill="#a4001d" {}
        }
    }
}

async fn plans(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
    query: web::Query<SaadQuery>,
) -> HttpResponse {
    respond(
        async {
            let viewer = viewer(&request, &pages).await?;
            let siret = path.into_inner();
            scope(&pages, &viewer, &siret).await?;
            let month = parse_month(query.mois.as_deref())?.unwrap_or_else(|| default_month(&clock));
            let store = &state(&pages).store;
            let closed = store.get_month(month).await?.status == MonthStatus::Closed;
            // The version of each plan in force last in the month.
            let mut rows: BTreeMap<String, Consumption> = BTreeMap::new();
            let mut latest: HashMap<String, u32> = HashMap::new();
            for version in store.saad_plans_in_month(&siret, month).await? {
                if latest.get(&version.plan_ref).is_some_and(|v| *v > version.version) {
                    continue;
                }
                latest.insert(version.plan_ref.clone(), version.version);
                rows.insert(
                    version.plan_ref.clone(),
                    Consumption {
                        plan_ref: version.plan_ref.clone(),
                        beneficiary_id: version.beneficiary_id.clone(),
                        aid_type: version.aid_type.to_string(),
                        allotted: Some(i64::from(version.monthly_minutes)),
                        carried: None,
                        billed: 0,
                        rejected: 0,
                        refused: 0,
                    },
                );
            }
            // What the close invoiced for the month (pro-forma and
            // regularisations, oldest first). The R7 allotment (prorata)
            // and carry-over are stored with each line by the close: the
            // latest line that has them wins (a regularisation's are the
            // month's figures as recomputed then), nothing is recomputed.
            for invoice in store.list_invoices(month, Some(&siret)).await? {
                let Some((header, lines)) = store.get_invoice(&invoice.id, Some(&siret)).await? else {
                    continue;
                };
                for line in lines {
                    let row = rows.entry(line.plan_ref.clone()).or_insert_with(|| Consumption {
                        plan_ref: line.plan_ref.clone(),
                        beneficiary_id: line.beneficiary_id.clone(),
                        aid_type: header.aid_type.to_string(),
                        allotted: None,
                        carried: None,
                        billed: 0,
                        rejected: 0,
                        refused: 0,
                    });
                    if let Some(allotted) = line.allotted_minutes {
                        row.allotted = Some(allotted);
                    }
                    if let Some(carried) = line.carried_in_minutes {
                        row.carried = Some(carried);
                    }
                    row.billed += line.billed_minutes;
                    row.rejected += line.rejected_minutes;
                }
            }
            // What ingestion refused (the rejection notice).
            for line in notice(&pages, &siret, month).await?.lines {
                if let Some(row) = line.plan_ref.as_ref().and_then(|p| rows.get_mut(p)) {
                    row.refused += line.minutes.unwrap_or(0);
                }
            }
            let beneficiary = query.beneficiary().map(str::to_lowercase);
            let all: Vec<Consumption> = rows
                .into_values()
                .filter(|r| {
                    beneficiary.as_deref().is_none_or(|b| {
                        r.beneficiary_id.to_lowercase().contains(b) || r.plan_ref.to_lowercase().contains(b)
                    })
                })
                .collect();
            let (shown, page_no) = page_slice(&all, query.page());
            let base = format!("/saad/{siret}/plans");
            let filters = vec![
                ("mois", month.to_string()),
                ("beneficiaire", query.beneficiary().unwrap_or_default().to_owned()),
            ];
            let link = |p: usize| {
                let mut pairs = filters.clone();
                pairs.push(("page", p.to_string()));
                format!("{base}?{}", query_string(&pairs))
            };
            let nav = nav_for(&viewer, &siret);
            let who = viewer.who();
            let title = format!("Consommation des plans — {}", month_label(month));
            let body = html! {
                (month_form(&base, month, html! {
                    label for="beneficiaire" { "Bénéficiaire ou plan" input #beneficiaire type="search" name="beneficiaire" value=(query.beneficiary().unwrap_or_default()); }
                }))
                @if !closed {
                    p.notice { "Ce mois n'est pas clôturé : les heures facturées, rejetées pour dépassement et reportées sont calculées à la clôture et s'afficheront ensuite. Les refus à la réception sont déjà connus." }
                }
                p.muted { "Alloué : heures du plan pour le mois (au prorata, telles que calculées à la clôture quand le mois est clôturé). Reporté : heures non utilisées des mois précédents de l'année, reportées sur ce mois (remise à zéro au 1er janvier), connues après la clôture." }
                (pager(page_no, all.len(), link))
                table {
                    caption { (all.len()) " plan(s), " (PAGE_SIZE) " par page" }
                    thead { tr {
                        th scope="col" { "Plan" }
                        th scope="col" { "Bénéficiaire" }
                        th scope="col" { "Aide" }
                        th.n scope="col" { "Alloué" }
                        th.n scope="col" { "Reporté" }
                        th.n scope="col" { "Facturé" }
                        th.n scope="col" { "Rejeté (dépassement)" }
                        th.n scope="col" { "Refusé à la réception" }
                        th scope="col" { "Graphique" }
                    } }
                    tbody {
                        @for row in shown {
                            tr {
                                th scope="row" { (row.plan_ref) }
                                td { (row.beneficiary_id) }
                                td { (row.aid_type) }
                                td.n { (row.allotted.map(hours).unwrap_or_else(|| "—".to_owned())) }
                                td.n { (row.carried.map(hours).unwrap_or_else(|| "—".to_owned())) }
                                td.n { @if closed { (hours(row.billed)) } @else { "—" } }
                                td.n { @if closed { (hours(row.rejected)) } @else { "—" } }
                                td.n { (hours(row.refused)) }
                                td { (consumption_chart(row)) }
                            }
                        }
                    }
                }
                (pager(page_no, all.len(), link))
                p.muted { "Graphique : cadre blanc = heures allouées, cadre gris = heures reportées, bleu = facturées, rouge = rejetées pour dépassement." }
            };
            Ok(html_response(
                StatusCode::OK,
                page(&viewer.frame(&title, &nav, &base, &who), body),
            ))
        }
        .await,
    )
}

/// A rate as "12,5 %" (one place, half away from zero).
fn percent(rate: Decimal) -> String {
    let value = (rate * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    format!("{value:.1}\u{a0}%").replace('.', ",")
}

async fn corrections(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
    query: web::Query<SaadQuery>,
) -> HttpResponse {
    respond(
        async {
            let viewer = viewer(&request, &pages).await?;
            let siret = path.into_inner();
            scope(&pages, &viewer, &siret).await?;
            let today = clock.now().with_timezone(&Paris).date_naive();
            let year = match query.annee.as_deref().map(str::trim).filter(|y| !y.is_empty()) {
                None => default_month(&clock).first_day().year(),
                Some(text) => text.parse().map_err(|_| {
                    PageError::BadRequest(format!("Année invalide : « {text} »."))
                })?,
            };
            let store = &state(&pages).store;
            let mut rows = Vec::new();
            for number in 1..=12 {
                let Some(month) = YearMonth::new(year, number) else { continue };
                if month > YearMonth::of(today) {
                    break;
                }
                let closed = store.get_month(month).await?.status == MonthStatus::Closed;
                // Charter 4.3: only invoiced interventions count once the
                // month is closed; before, the accepted ones (provisional).
                let mut invoiced: BTreeSet<i64> = BTreeSet::new();
                if closed {
                    for invoice in store.list_invoices(month, Some(&siret)).await? {
                        if let Some((_, lines)) = store.get_invoice(&invoice.id, Some(&siret)).await? {
                            invoiced.extend(lines.iter().flat_map(|l| l.interventions.iter().map(|i| i.version_id)));
                        }
                    }
                }
                let mut rate = CorrectionRate { corrected: 0, total: 0 };
                let mut stream = store.accepted_in_month(month);
                while let Some(row) = stream.try_next().await? {
                    if row.saad_siret != siret || (closed && !invoiced.contains(&row.version_id)) {
                        continue;
                    }
                    rate.total += 1;
                    if row.corrected {
                        rate.corrected += 1;
                    }
                }
                rows.push((month, closed, rate));
            }
            let base = format!("/saad/{siret}/corrections");
            let nav = nav_for(&viewer, &siret);
            let who = viewer.who();
            let title = format!("Taux de correction — {year}");
            let body = html! {
                form.filters method="get" action=(base) {
                    label for="annee" { "Année" input #annee type="number" name="annee" value=(year) min="2000" max="2100" required; }
                    button type="submit" { "Afficher" }
                }
                p { "Part des interventions dont les heures retenues sont corrigées ou déclaratives (charte, § 4.3) : sur les interventions facturées une fois le mois clôturé, sur les interventions acceptées avant (provisoire)." }
                table {
                    caption { "Taux de correction par mois" }
                    thead { tr {
                        th scope="col" { "Mois" }
                        th scope="col" { "État" }
                        th.n scope="col" { "Interventions" }
                        th.n scope="col" { "Corrigées ou déclaratives" }
                        th.n scope="col" { "Taux" }
                        th scope="col" { "Graphique" }
                    } }
                    tbody {
                        @for (month, closed, rate) in &rows {
                            tr {
                                th scope="row" { (month_label(*month)) }
                                td { @if *closed { "clôturé (facturé)" } @else { "ouvert (provisoire)" } }
                                td.n { (rate.total) }
                                td.n { (rate.corrected) }
                                td.n { (rate.ratio().map(percent).unwrap_or_else(|| "—".to_owned())) }
                                td {
                                    @let width = rate.ratio().map(|r| (r * Decimal::from(120)).round().try_into().unwrap_or(0_i64)).unwrap_or(0);
                                    svg width="122" height="14" role="img" aria-label=(rate.ratio().map(percent).unwrap_or_else(|| "aucune intervention".to_owned())) {
                                        rect x="1" y="1" width="120" height="12" fill="#ffffff" stroke="#1b1b1b" {}
                                        rect x="1" y="1" width=(width) height="12" fill="#0b4f9c" {}
                                    }
                                }
                            }
                        }
                    }
                }
            };
            Ok(html_response(
                StatusCode::OK,
                page(&viewer.frame(&title, &nav, &base, &who), body),
            ))
        }
        .await,
    )
}

/// The flash message of a `fait=` redirect.
pub fn done_message(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "valide" => Some("La facture a été validée."),
        "cloture" => Some("Le mois a été clôturé ; ses factures pro forma sont ci-dessous."),
        "lot" => Some("Le lot de paiement a été émis ; ses fichiers sont téléchargeables."),
        _ => None,
    }
}

async fn invoices(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
    query: web::Query<SaadQuery>,
) -> HttpResponse {
    respond(
        async {
            let viewer = viewer(&request, &pages).await?;
            let siret = path.into_inner();
            scope(&pages, &viewer, &siret).await?;
            let month = parse_month(query.mois.as_deref())?.unwrap_or_else(|| default_month(&clock));
            let list = state(&pages).store.list_invoices(month, Some(&siret)).await?;
            let can_validate = |status: InvoiceStatus| match viewer.principal.role {
                Role::Saad { .. } => status == InvoiceStatus::Proforma,
                Role::Financer => status == InvoiceStatus::SaadValidated,
            };
            let base = format!("/saad/{siret}/factures");
            let nav = nav_for(&viewer, &siret);
            let who = viewer.who();
            let title = format!("Factures — {}", month_label(month));
            let body = html! {
                @if let Some(message) = done_message(query.fait.as_deref()) {
                    p.notice role="status" { (message) }
                }
                (month_form(&base, month, html! {}))
                @if list.is_empty() {
                    p.notice { "Aucune facture pour ce mois (le mois n'est peut-être pas encore clôturé)." }
                } @else {
                    table {
                        caption { "Factures du mois" }
                        thead { tr {
                            th scope="col" { "Facture" }
                            th scope="col" { "Type" }
                            th scope="col" { "Aide" }
                            th scope="col" { "Statut" }
                            th.n scope="col" { "Lignes" }
                            th.n scope="col" { "Facturé" }
                            th.n scope="col" { "Rejeté" }
                            th.n scope="col" { "Valorisé" }
                            th.n scope="col" { "Participation" }
                            th.n scope="col" { "Montant dû" }
                            th scope="col" { "Action" }
                        } }
                        tbody {
                            @for invoice in &list {
                                tr {
                                    th scope="row" { (invoice.id) }
                                    td { (kind_label(invoice.kind)) }
                                    td { (invoice.aid_type) }
                                    td { (status_label(invoice.status)) }
                                    td.n { (invoice.line_count) }
                                    td.n { (hours(invoice.billed_minutes)) }
                                    td.n { (hours(invoice.rejected_minutes)) }
                                    td.n { (euros(invoice.valued_amount)) }
                                    td.n { (euros(invoice.participation_amount)) }
                                    td.n { (euros(invoice.amount_due)) }
                                    td {
                                        @if can_validate(invoice.status) {
                                            form.inline method="post" action=(format!("{base}/{}/valider", invoice.id)) {
                                                input type="hidden" name="csrf" value=(viewer.csrf);
                                                button type="submit" aria-label=(format!("Valider la facture {}", invoice.id)) { "Valider" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            };
            Ok(html_response(
                StatusCode::OK,
                page(&viewer.frame(&title, &nav, &base, &who), body),
            ))
        }
        .await,
    )
}

async fn validate_invoice(
    request: HttpRequest,
    pages: web::Data<Pages>,
    clock: web::Data<Clock>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    respond(
        async {
            let viewer = viewer(&request, &pages).await?;
            let (siret, id) = path.into_inner();
            scope(&pages, &viewer, &siret).await?;
            check_csrf(&viewer, &form.csrf)?;
            let store = &state(&pages).store;
            // The invoice must be this SAAD's (404 otherwise, for both roles).
            let (record, _) = store
                .get_invoice(&id, Some(&siret))
                .await?
                .ok_or(PageError::NotFound)?;
            validate(store, &id, viewer.principal.saad_siret(), clock.now())
                .await
                .map_err(invoice_error)?;
            Ok(see_other(&format!(
                "/saad/{siret}/factures?mois={}&fait=valide",
                record.month
            )))
        }
        .await,
    )
}

/// A validation's refusal as a page.
pub fn invoice_error(error: InvoiceError) -> PageError {
    match error {
        InvoiceError::NotFound => PageError::NotFound,
        InvoiceError::Conflict(message) => {
            PageError::Conflict(format!("Validation refusée : {message}"))
        }
        InvoiceError::Unprocessable(message) => {
            PageError::Unprocessable(format!("Validation refusée : {message}"))
        }
        InvoiceError::Store(error) => error.into(),
    }
}
