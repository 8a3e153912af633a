//! Monthly reconciliation throughput (docs/rules-monthly.md "Performance"):
//! 1 000 000 accepted interventions over 30 000 plans, in memory, reconciled
//! for March 2025 (January and February computed too for the carry-over).
//!
//! Run: `cargo bench --bench reconciliation -- --warm-up-time 1 --measurement-time 10 --sample-size 10`

use std::hint::black_box;
use std::path::Path;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use saad_gateway::domain::model::{Event, PlanVersion, Saad, SaadAidType, Tariff};
use saad_gateway::domain::reconciliation::{BillableIntervention, PlanInput, reconcile_month};
use saad_gateway::domain::types::{AidType, EventKind, SaadStatus, Siret, YearMonth};

const PLANS: usize = 30_000;
const INTERVENTIONS: usize = 1_000_000;
const SAADS: usize = 100;

/// Deterministic integer pseudo-random numbers (no floating point).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid day")
}

/// A SIRET with a valid Luhn key built from a counter.
fn siret(n: usize) -> Siret {
    let body = format!("{:013}", 1_000_000 + n);
    (0..10)
        .map(|check| format!("{body}{check}"))
        .find_map(|candidate| Siret::parse(&candidate).ok())
        .expect("one check digit fits")
}

struct Data {
    saads: Vec<Saad>,
    versions: Vec<Vec<PlanVersion>>,
    interventions: Vec<Vec<BillableIntervention>>,
    events: Vec<Vec<Event>>,
}

fn data() -> Data {
    let mut rng = Lcg(42);
    let saads: Vec<Saad> = (0..SAADS)
        .map(|n| {
            let status = if n % 3 == 0 {
                SaadStatus::Autorise
            } else {
                SaadStatus::Habilite
            };
            let tariffs = vec![
                Tariff {
                    valid_from: day(2024, 1, 1),
                    valid_to: Some(day(2025, 3, 14)),
                    hourly_rate: Decimal::new(2350 + i64::try_from(n).unwrap_or(0), 2),
                },
                Tariff {
                    valid_from: day(2025, 3, 15),
                    valid_to: None,
                    hourly_rate: Decimal::new(2458 + i64::try_from(n).unwrap_or(0), 2),
                },
            ];
            Saad {
                siret: siret(n),
                name: format!("SAAD {n}"),
                iban: "FR7630006000011234567890189".to_owned(),
                bic: "AGRIFRPP".to_owned(),
                declarative: false,
                finess: None,
                legal_category: None,
                account_holder: None,
                address: None,
                aid_types: [AidType::Apa, AidType::Pch, AidType::Am]
                    .into_iter()
                    .map(|aid_type| SaadAidType {
                        aid_type,
                        status,
                        tariffs: tariffs.clone(),
                    })
                    .collect(),
            }
        })
        .collect();

    let mut versions = Vec::with_capacity(PLANS);
    let mut events = Vec::with_capacity(PLANS);
    for p in 0..PLANS {
        let saad = &saads[p % SAADS];
        let aid_type = [AidType::Apa, AidType::Apa, AidType::Pch, AidType::Am][p % 4];
        let minutes = u32::try_from(600 + rng.below(1800)).unwrap_or(600);
        let base = PlanVersion {
            plan_ref: format!("PLAN-{p:06}"),
            version: 1,
            beneficiary_id: format!("BEN-{p:06}"),
            saad_siret: saad.siret.clone(),
            aid_type,
            gir: (aid_type == AidType::Apa).then_some(2),
            household: None,
            valid_from: day(2024, 6, 1),
            valid_to: day(2026, 5, 31),
            monthly_minutes: minutes,
            hourly_rate: Decimal::new(2300 + i64::try_from(rng.below(300)).unwrap_or(0), 2),
            participation_rate: (aid_type == AidType::Apa)
                .then(|| Decimal::new(i64::try_from(rng.below(90_000)).unwrap_or(0), 5)),
            coverage_rate: (aid_type == AidType::Pch).then(|| Decimal::new(80, 2)),
            monthly_amount: Decimal::new(150_000, 2),
            respite_exemption: false,
            household_ref: None,
        };
        let mut plan = vec![base.clone()];
        if p % 5 == 0 {
            // A new version from the middle of March.
            plan.push(PlanVersion {
                version: 2,
                valid_from: day(2025, 3, 12),
                monthly_minutes: minutes + 300,
                ..base
            });
        }
        versions.push(plan);
        let mut plan_events = Vec::new();
        if p % 50 == 0 {
            plan_events.push(Event {
                beneficiary_id: format!("BEN-{p:06}"),
                kind: EventKind::Hospitalisation,
                start: day(2025, 3, 10),
                end: Some(day(2025, 3, 17)),
                note: None,
            });
        }
        events.push(plan_events);
    }

    let mut interventions: Vec<Vec<BillableIntervention>> =
        (0..PLANS).map(|_| Vec::with_capacity(40)).collect();
    for n in 0..INTERVENTIONS {
        let plan = usize::try_from(rng.below(u64::try_from(PLANS).unwrap_or(1))).unwrap_or(0);
        let dom = u32::try_from(1 + rng.below(31)).unwrap_or(1);
        let hour = u32::try_from(7 + rng.below(12)).unwrap_or(7);
        let d = day(2025, 3, dom);
        interventions[plan].push(BillableIntervention {
            line_id: format!("IV-{n:07}"),
            day: d,
            start: Utc.from_utc_datetime(&d.and_hms_opt(hour, 0, 0).expect("valid time")),
            received_sequence: i64::try_from(n).unwrap_or(0),
            rounded_minutes: 15 * i64::try_from(1 + rng.below(8)).unwrap_or(1),
            corrected: n % 7 == 0,
        });
    }
    Data {
        saads,
        versions,
        interventions,
        events,
    }
}

fn bench(c: &mut Criterion) {
    let params =
        saad_gateway::charter::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/charter")))
            .expect("the repository's charter loads");
    let data = data();
    let month = YearMonth::new(2025, 3).expect("valid month");
    let mut group = c.benchmark_group("reconciliation");
    group.throughput(Throughput::Elements(
        u64::try_from(INTERVENTIONS).unwrap_or(0),
    ));
    group.bench_function("reconcile_month_1M_interventions_30k_plans", |b| {
        b.iter(|| {
            let plans = (0..PLANS).map(|p| PlanInput {
                versions: &data.versions[p],
                saad: &data.saads[p % SAADS],
                interventions: &data.interventions[p],
                events: &data.events[p],
                authorisations: &[],
            });
            let groups = reconcile_month(plans, month, &params).expect("reconciles");
            black_box(groups)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
