//! The dashboards: French server-rendered pages at `/` for SAAD office staff
//! and the département's finance staff (issue 7, `docs/dashboards.md`).
//!
//! Pages call the same services as the JSON API (`crate::service`): they
//! hold no rule of their own and show only stored or computed data. They
//! work without JavaScript (plain links and forms), every form posts a CSRF
//! token, and long tables are paginated.
//!
//! - [`session`]: login with an API token → encrypted session cookie;
//! - [`layout`]: the frame, style sheet (with a print style), labels;
//! - [`saad`]: rejection notice, plan consumption, correction rate, invoices;
//! - [`finance`]: months and close, invoices, batches and their files,
//!   rejections across SAADs.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use crate::domain::types::YearMonth;
use crate::http::auth::{Principal, Role, TokenLookup, hash_token};
use crate::http::clock::Clock;
use crate::http::gateway::{AppState, StoreTokens};
use crate::storage::StoreError;

pub mod finance;
pub mod layout;
pub mod saad;
pub mod session;

use layout::{Frame, NavItem, bare_page, error_page, html_response, see_other};
use session::{Sessions, same_token};

/// What the pages share.
#[derive(Clone)]
pub struct Pages {
    state: web::Data<AppState>,
    sessions: Sessions,
}

impl Pages {
    /// The pages over the gateway's state; `secure` when served over TLS.
    /// Build once per server (the session key is shared by all workers).
    pub fn new(state: web::Data<AppState>, secure: bool) -> Self {
        Self {
            state,
            sessions: Sessions::from_env(secure),
        }
    }

    /// Registers the pages at the root of the application.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()))
            .service(web::resource("/").route(web::get().to(index)))
            .service(
                web::resource("/connexion")
                    .route(web::get().to(login_form))
                    .route(web::post().to(login)),
            )
            .service(web::resource("/deconnexion").route(web::post().to(logout)));
        saad::configure(cfg);
        finance::configure(cfg);
    }
}

/// The logged-in caller of a page.
pub struct Viewer {
    /// Who the session's token acts for.
    pub principal: Principal,
    /// The session's CSRF token.
    pub csrf: String,
    /// The SAAD's name (SAAD sessions).
    pub name: Option<String>,
}

impl Viewer {
    /// The frame of a page of this viewer.
    pub fn frame<'a>(
        &'a self,
        title: &'a str,
        nav: &'a [NavItem],
        current: &'a str,
        who: &'a str,
    ) -> Frame<'a> {
        Frame {
            title,
            who,
            nav,
            current,
            csrf: &self.csrf,
        }
    }

    /// "SAAD 73282932000074 — Aide à Domicile du Val" or "Département".
    pub fn who(&self) -> String {
        match &self.principal.role {
            Role::Financer => "Département (finances)".to_owned(),
            Role::Saad { siret } => match &self.name {
                Some(name) => format!("SAAD {siret} — {name}"),
                None => format!("SAAD {siret}"),
            },
        }
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// No session: go to the login form.
    Login,
    /// 404 (also another SAAD's page).
    NotFound,
    /// 403: the other role's page.
    Forbidden,
    /// 400: a malformed parameter or a bad CSRF token.
    BadRequest(String),
    /// 409: an action out of order (the service's message).
    Conflict(String),
    /// 422: the service refused (an export's message).
    Unprocessable(String),
    /// 503: the database does not answer.
    Unavailable,
    /// 500.
    Internal(String),
}

impl PageError {
    /// The response of the error.
    pub fn response(self) -> HttpResponse {
        match self {
            PageError::Login => see_other("/connexion"),
            PageError::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "Cette page n'existe pas ou ne vous est pas accessible.",
            ),
            PageError::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                "Cette page est réservée à un autre profil.",
            ),
            PageError::BadRequest(message) => error_page(StatusCode::BAD_REQUEST, &message),
            PageError::Conflict(message) => error_page(StatusCode::CONFLICT, &message),
            PageError::Unprocessable(message) => {
                error_page(StatusCode::UNPROCESSABLE_ENTITY, &message)
            }
            PageError::Unavailable => {
                let mut response = error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "La base de données ne répond pas. Réessayez dans quelques instants.",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
                response
            }
            PageError::Internal(cause) => {
                tracing::error!(cause = %cause, "dashboard page failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Une erreur interne est survenue ; elle a été journalisée.",
                )
            }
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => PageError::Unavailable,
            StoreError::NotFound => PageError::NotFound,
            StoreError::Conflict(_) => PageError::Conflict(
                "L'action est en conflit avec les données enregistrées.".to_owned(),
            ),
            other => PageError::Internal(other.to_string()),
        }
    }
}

/// A page handler's result: the page, or the page of its error.
pub type PageResult = Result<HttpResponse, PageError>;

/// Renders a page handler's result.
pub fn respond(result: PageResult) -> HttpResponse {
    result.unwrap_or_else(PageError::response)
}

/// The viewer of a request: its session's token, looked up again (a revoked
/// token ends the session). No session → the login form.
pub async fn viewer(request: &HttpRequest, pages: &Pages) -> Result<Viewer, PageError> {
    let session = pages.sessions.session(request).ok_or(PageError::Login)?;
    let principal = StoreTokens(pages.state.store.clone())
        .lookup(&session.token_hash)
        .await
        .map_err(|_| PageError::Unavailable)?
        .ok_or(PageError::Login)?;
    let name = match &principal.role {
        Role::Saad { siret } => pages.state.store.get_saad(siret).await?.map(|s| s.name),
        Role::Financer => None,
    };
    Ok(Viewer {
        principal,
        csrf: session.csrf,
        name,
    })
}

/// 400 unless `sent` is the session's CSRF token.
pub fn check_csrf(viewer: &Viewer, sent: &str) -> Result<(), PageError> {
    if same_token(&viewer.csrf, sent) {
        Ok(())
    } else {
        Err(PageError::BadRequest(
            "Le formulaire a expiré ou ne vient pas de ce site (jeton CSRF invalide). Rechargez la page et recommencez.".to_owned(),
        ))
    }
}

/// A form carrying only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

/// A `mois` query value; `None` when absent or empty.
pub fn parse_month(text: Option<&str>) -> Result<Option<YearMonth>, PageError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            PageError::BadRequest(format!("Mois invalide : « {text} » (attendu AAAA-MM)."))
        }),
    }
}

/// The month pages show by default: the month before the gateway clock's
/// month (Europe/Paris), the one to check and close.
pub fn default_month(clock: &Clock) -> YearMonth {
    YearMonth::of(
        clock
            .now()
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive(),
    )
    .previous()
}

/// The pages' state of a request.
pub fn state(pages: &Pages) -> &AppState {
    pages.state.get_ref()
}

async fn index(request: HttpRequest, pages: web::Data<Pages>) -> HttpResponse {
    respond(
        async {
            let viewer = viewer(&request, &pages).await?;
            Ok(match viewer.principal.role {
                Role::Financer => see_other("/finances/mois"),
                Role::Saad { siret } => see_other(&format!("/saad/{siret}/rejets")),
            })
        }
        .await,
    )
}

/// The login form's body.
#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

fn login_page(csrf: &str, message: Option<&str>) -> maud::Markup {
    bare_page(
        "Connexion au tableau de bord",
        html! {
            @if let Some(message) = message {
                p.error role="alert" { (message) }
            }
            p { "Connectez-vous avec le jeton d'API remis par le département (SAAD ou finances). Le jeton n'est pas conservé : seule sa empreinte sert à retrouver votre profil." }
            form method="post" action="/connexion" {
                input type="hidden" name="csrf" value=(csrf);
                p {
                    label for="token" { "Jeton d'API" }
                    br;
                    input #token type="password" name="token" required autocomplete="off" size="50";
                }
                button type="submit" { "Se connecter" }
            }
        },
    )
}

async fn login_form(request: HttpRequest, pages: web::Data<Pages>) -> HttpResponse {
    let (csrf, cookie) = pages.sessions.login_csrf(&request);
    let mut response = html_response(StatusCode::OK, login_page(&csrf, None));
    if let Some(cookie) = cookie.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn login(
    request: HttpRequest,
    pages: web::Data<Pages>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    if !pages.sessions.login_csrf_matches(&request, &form.csrf) {
        return PageError::BadRequest(
            "Le formulaire de connexion a expiré ou ne vient pas de ce site. Rechargez la page de connexion.".to_owned(),
        )
        .response();
    }
    let hash = hash_token(form.token.trim());
    let principal = match StoreTokens(pages.state.store.clone()).lookup(&hash).await {
        Ok(found) => found,
        Err(_) => return PageError::Unavailable.response(),
    };
    if principal.is_none() {
        let (csrf, _) = pages.sessions.login_csrf(&request);
        return html_response(
            StatusCode::UNAUTHORIZED,
            login_page(&csrf, Some("Jeton inconnu ou révoqué.")),
        );
    }
    let (_, cookie) = pages.sessions.open(hash);
    let mut response = see_other("/");
    if let Ok(value) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn logout(
    request: HttpRequest,
    pages: web::Data<Pages>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    respond(
        async {
            let viewer = viewer(&request, &pages).await?;
            check_csrf(&viewer, &form.csrf)?;
            let mut response = see_other("/connexion");
            for cookie in pages.sessions.close() {
                if let Ok(value) = header::HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            Ok(response)
        }
        .await,
    )
}
