//! The page frame (maud): layout, navigation, style sheet (screen and
//! print), pagination, and the French labels of stored states.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::domain::types::YearMonth;
use crate::storage::{InvoiceKind, InvoiceStatus};

/// Rows per page of every long table.
pub const PAGE_SIZE: usize = 50;

/// The style sheet: dark text on white (contrast above 7:1), visible focus,
/// and a print style that keeps only the content.
const STYLE: &str = r#"
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fff;line-height:1.45}
a{color:#0b4f9c}
a:focus,button:focus,input:focus,select:focus{outline:3px solid #e8a317;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px}
header{background:#00264d;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
header a{color:#fff}
header .who{margin-left:auto;font-size:.9rem}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:1rem}
nav a[aria-current=page]{font-weight:bold;text-decoration:underline 3px}
main{padding:1rem;max-width:78rem}
h1{font-size:1.5rem;margin:.3rem 0 1rem}
h2{font-size:1.2rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.6rem 0;width:100%}
caption{text-align:left;font-weight:bold;padding:.3rem 0}
th,td{border:1px solid #8a8a8a;padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{background:#e8eef5}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tfoot th,tfoot td{background:#f3f3f3;font-weight:bold}
form.filters{display:flex;flex-wrap:wrap;gap:.8rem;align-items:flex-end;margin:.5rem 0 1rem}
form.filters label{display:flex;flex-direction:column;font-size:.9rem}
input,select{font:inherit;padding:.25rem;border:1px solid #555;border-radius:3px}
button{font:inherit;background:#0b4f9c;color:#fff;border:0;border-radius:3px;padding:.35rem .8rem;cursor:pointer}
button.secondary{background:#fff;color:#0b4f9c;border:1px solid #0b4f9c}
form.inline{display:inline}
.notice{border-left:5px solid #0b4f9c;background:#eef4fb;padding:.5rem .8rem;margin:.8rem 0}
.error{border-left:5px solid #a4001d;background:#fdecee;padding:.5rem .8rem;margin:.8rem 0}
.reason{border:1px solid #8a8a8a;padding:.2rem .8rem .6rem;margin:1rem 0;break-inside:avoid}
.reason h3{margin:.4rem 0;font-size:1.05rem}
.muted{color:#4a4a4a}
.pager{display:flex;gap:1rem;align-items:center;margin:.8rem 0}
.downloads{display:flex;gap:1rem;flex-wrap:wrap}
svg text{font-size:10px}
@media print{
 header,nav,form,.pager,.noprint,.skip{display:none!important}
 body{font-size:10pt;color:#000}
 main{padding:0;max-width:none}
 a{color:#000;text-decoration:none}
 th,td{border-color:#000}
 thead{display:table-header-group}
 tr{break-inside:avoid}
}
"#;

/// A navigation entry: path, label.
pub type NavItem = (String, &'static str);

/// Who is logged in, as the frame shows it.
pub struct Frame<'a> {
    /// The page title (also the `h1`).
    pub title: &'a str,
    /// "SAAD 7328… — Aide à Domicile du Val" or "Département (finances)".
    pub who: &'a str,
    /// The navigation of the viewer's role.
    pub nav: &'a [NavItem],
    /// The path of the current page (marked in the navigation).
    pub current: &'a str,
    /// The session's CSRF token (logout form).
    pub csrf: &'a str,
}

/// A whole page.
pub fn page(frame: &Frame<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " — saad-gateway" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#contenu" { "Aller au contenu" }
                header {
                    strong { "saad-gateway" }
                    nav aria-label="Navigation principale" {
                        ul {
                            @for (path, label) in frame.nav {
                                li {
                                    @if path == frame.current {
                                        a href=(path) aria-current="page" { (label) }
                                    } @else {
                                        a href=(path) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    span.who {
                        (frame.who) " "
                        form.inline method="post" action="/deconnexion" {
                            input type="hidden" name="csrf" value=(frame.csrf);
                            button.secondary type="submit" { "Se déconnecter" }
                        }
                    }
                }
                main #contenu {
                    h1 { (frame.title) }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation (login, errors before a session exists).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — saad-gateway" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { strong { "saad-gateway" } }
                main #contenu {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An HTML response with the dashboards' security headers.
pub fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(markup.into_string())
}

/// 303 See Other to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// An error page: 404, 403, 409 (an action out of order), 503, 500.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let title = match status.as_u16() {
        404 => "Page introuvable",
        403 => "Accès refusé",
        409 => "Action refusée",
        400 | 422 => "Demande invalide",
        503 => "Service momentanément indisponible",
        _ => "Erreur interne",
    };
    html_response(
        status,
        bare_page(
            title,
            html! {
                p.error role="alert" { (message) }
                p { a href="/" { "Revenir au tableau de bord" } }
            },
        ),
    )
}

/// "Page 2 sur 7" with links to the previous and next pages; `link(page)`
/// gives a page's URL.
pub fn pager(page: usize, total_rows: usize, link: impl Fn(usize) -> String) -> Markup {
    let pages = total_rows.div_ceil(PAGE_SIZE).max(1);
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pagination" {
                @if page > 1 { a href=(link(page - 1)) rel="prev" { "← Page précédente" } }
                span { "Page " (page) " sur " (pages) " (" (total_rows) " lignes)" }
                @if page < pages { a href=(link(page + 1)) rel="next" { "Page suivante →" } }
            }
        }
    }
}

/// The rows of page `page` (1-based; out of range gives the last page).
pub fn page_slice<T>(rows: &[T], page: usize) -> (&[T], usize) {
    let pages = rows.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    let end = (start + PAGE_SIZE).min(rows.len());
    (&rows[start.min(rows.len())..end], page)
}

/// French label of an invoice status.
pub fn status_label(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Proforma => "pro forma (à valider par le SAAD)",
        InvoiceStatus::SaadValidated => "validée par le SAAD (à valider par le département)",
        InvoiceStatus::Final => "définitive",
        InvoiceStatus::Paid => "payée",
    }
}

/// French label of an invoice kind.
pub fn kind_label(kind: InvoiceKind) -> &'static str {
    match kind {
        InvoiceKind::Proforma => "pro forma",
        InvoiceKind::Regularisation => "régularisation",
    }
}

/// "janvier 2024".
pub fn month_label(month: YearMonth) -> String {
    const NAMES: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    use chrono::Datelike;
    let first = month.first_day();
    let index = usize::try_from(first.month0()).unwrap_or(0);
    format!("{} {}", NAMES[index], first.year())
}

/// Minutes as "12 h 05".
pub fn hours(minutes: i64) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let m = minutes.unsigned_abs();
    format!("{sign}{} h {:02}", m / 60, m % 60)
}

/// An amount in euros, French style: "1 234,56 €" (two places, half away
/// from zero, as the API's strings).
pub fn euros(amount: rust_decimal::Decimal) -> String {
    let text = crate::service::invoices::format_money(amount);
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |rest| ("-", rest));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('\u{202f}');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{frac}\u{a0}€")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_are_written_the_french_way_with_two_places() {
        assert_eq!(euros(dec!(1234.565)), "1\u{202f}234,57\u{a0}€");
        assert_eq!(euros(dec!(-5)), "-5,00\u{a0}€");
        assert_eq!(hours(125), "2 h 05");
    }

    #[test]
    fn a_page_out_of_range_shows_the_last_page() {
        let rows: Vec<u32> = (0..120).collect();
        let (slice, page) = page_slice(&rows, 9);
        assert_eq!(page, 3);
        assert_eq!(slice.len(), 20);
        let (slice, page) = page_slice(&rows, 0);
        assert_eq!((page, slice.first()), (1, Some(&0)));
    }
}
