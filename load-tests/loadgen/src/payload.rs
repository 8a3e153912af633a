//! The generated month: SAADs, plans and DELIVERY bodies (ESPPADOM XML and
//! the gateway's JSON), deterministic, no personal data.
//!
//! Layout: plan `p` (0-based) belongs to SAAD `p / PLANS_PER_SAAD`; a batch
//! file is one SAAD's interventions of one day (1 000 plans → 1 000
//! interventions), posted while the manual clock is that evening, so raw
//! stamps are within the 48-hour delay (R3) and every line is accepted.

use std::fmt::Write;

use serde_json::{Value, json};

/// Plans per SAAD, and so interventions per batch file.
pub const PLANS_PER_SAAD: usize = 1_000;

/// A valid SIRET (Luhn) for generated SAAD `index`.
pub fn siret(index: usize) -> String {
    let body = format!("9990{index:09}");
    for check in 0..10u32 {
        let candidate = format!("{body}{check}");
        if luhn_ok(&candidate) {
            return candidate;
        }
    }
    unreachable!("one check digit always satisfies Luhn")
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

pub fn plan_ref(p: usize) -> String {
    format!("PL-{p:07}")
}

pub fn beneficiary(p: usize) -> String {
    format!("BEN-{p:07}")
}

pub fn worker(p: usize) -> String {
    format!("W-{p:07}")
}

/// `POST /api/v1/saads` body for SAAD `index`.
pub fn saad_json(index: usize) -> Value {
    json!({"siret": siret(index), "name": format!("SAAD de charge {index}"),
        "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP", "declarative": false,
        "legal_category": "9220",
        "address": {"line1": "1 rue de la Charge", "postcode": "71000", "city": "Macon", "country": "FR"},
        "aid_types": [{"aid_type": "APA", "status": "habilite",
            "tariffs": [{"valid_from": "2024-01-01", "valid_to": null, "hourly_rate": "24.00"}]}]})
}

/// `POST /api/v1/orders` body for plans `range`.
pub fn plans_json(range: std::ops::Range<usize>) -> Value {
    let plans: Vec<Value> = range
        .map(|p| {
            json!({"plan_ref": plan_ref(p), "version": 1, "beneficiary_id": beneficiary(p),
                "saad_siret": siret(p / PLANS_PER_SAAD), "aid_type": "APA", "gir": 2, "household": null,
                "valid_from": "2024-01-01", "valid_to": "2024-12-31", "monthly_minutes": 2400,
                "hourly_rate": "24.00", "participation_rate": "0.10000", "coverage_rate": null,
                "monthly_amount": "960.00", "respite_exemption": false})
        })
        .collect();
    json!({ "plans": plans })
}

/// One intervention of a DELIVERY: local (Europe/Paris) times without offset.
#[derive(Debug, Clone)]
pub struct Visit {
    pub id: String,
    pub plan: usize,
    pub start: String,
    pub end: String,
    /// `COD` correction (retained period counts, reason FORGOTTEN): not
    /// subject to the 48-hour delay.
    pub corrected: bool,
}

const XML_HEAD: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<ns:delivery versionID="1.4" xmlns:ns="urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:8" xmlns:pie="urn:un:unece:uncefact:data:standard:PersonInformationEntity:1" xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:8">"#,
    "\n"
);

/// An ESPPADOM DELIVERY (the shape of `src/xml/synthetic.rs`, esppadom.md
/// §3.1) for SAAD `saad` with transaction id `transmission`.
pub fn delivery_xml(saad: usize, transmission: &str, visits: &[Visit]) -> Vec<u8> {
    let siret = siret(saad);
    let mut out = String::with_capacity(visits.len() * 2700 + 600);
    out.push_str(XML_HEAD);
    for v in visits {
        let stamp = |name: &str, at: &str| {
            format!(
                "<ram:{name}><ram:CertifiedDateTime>{at}</ram:CertifiedDateTime><ram:CustomerIdentificationMethod listID=\"ESPPADOM_TIMESTAMP_METHOD\" listAgencyName=\"EDESS\">BDG</ram:CustomerIdentificationMethod><ram:SupplierIdentificationMethod listID=\"ESPPADOM_TIMESTAMP_METHOD\" listAgencyName=\"EDESS\">BDG</ram:SupplierIdentificationMethod></ram:{name}>"
            )
        };
        let (type_code, stamps) = if v.corrected {
            (
                r#"<ram:TypeCode listID="ESPPADOM_EFFECTIVITY_AJUST" listAgencyName="EDESS">COD</ram:TypeCode>"#,
                stamp("StartDateTime", &v.start),
            )
        } else {
            (
                "",
                format!(
                    "{}{}",
                    stamp("StartDateTime", &v.start),
                    stamp("EndDateTime", &v.end)
                ),
            )
        };
        let p = v.plan;
        let _ = write!(
            out,
            concat!(
                "<ns:CrossIndustryDespatchAdvice>\n",
                "<ns:CIDDHExchangedDocumentContext><ram:VersionID>1.4</ram:VersionID><ram:SpecifiedTransactionID>{tid}</ram:SpecifiedTransactionID></ns:CIDDHExchangedDocumentContext>\n",
                "<ns:CIDDHExchangedDocument><ram:ID>{id}</ram:ID><ram:IssueDateTime>2024-01-01T07:00:00</ram:IssueDateTime></ns:CIDDHExchangedDocument>\n",
                "<ns:CIDDHSupplyChainTradeTransaction>\n",
                "<ram:ApplicableCIDDHSupplyChainTradeAgreement><ram:BuyerOrderReferencedCIReferencedDocument><ram:IssuerCITradeParty><pie:ID>CD99</pie:ID><pie:Name>Departement Fictif 99</pie:Name></ram:IssuerCITradeParty></ram:BuyerOrderReferencedCIReferencedDocument></ram:ApplicableCIDDHSupplyChainTradeAgreement>\n",
                "<ram:ApplicableCIDDHSupplyChainTradeDelivery>\n",
                "<ram:ShipToCITradeParty><pie:ID>{ben}</pie:ID><pie:PostalCITradeAddress><pie:LineOne>1 rue Fictive</pie:LineOne><pie:PostcodeCode>99001</pie:PostcodeCode><pie:CityName>Ville</pie:CityName><pie:CountryID>FR</pie:CountryID></pie:PostalCITradeAddress></ram:ShipToCITradeParty>\n",
                "<ram:ShipFromCITradeParty><pie:ID>SAAD-{saad}</pie:ID><pie:Name>SAAD de charge</pie:Name><pie:SIRET>{siret}</pie:SIRET><pie:DefinedCITradeContact><pie:ID>{worker}</pie:ID><pie:TypeCode listID=\"ESPPADOM_CONTACT_PRESTATAIRE\" listAgencyName=\"EDESS\">INT</pie:TypeCode></pie:DefinedCITradeContact></ram:ShipFromCITradeParty>\n",
                "<ram:ActualDespatchCISupplyChainEvent>{type_code}<ram:OccurrenceCISpecifiedPeriod><qdt:StartDateTime>{start}</qdt:StartDateTime><qdt:EndDateTime>{end}</qdt:EndDateTime></ram:OccurrenceCISpecifiedPeriod></ram:ActualDespatchCISupplyChainEvent>\n",
                "<ram:AdditionalReferencedCIReferencedDocument><ram:EffectiveCISpecifiedPeriod>{stamps}</ram:EffectiveCISpecifiedPeriod></ram:AdditionalReferencedCIReferencedDocument>\n",
                "</ram:ApplicableCIDDHSupplyChainTradeDelivery>\n",
                "<ram:ApplicableCIDDHSupplyChainTradeSettlement/>\n",
                "<ram:IncludedCIDDLSupplyChainTradeLineItem><ram:AssociatedCIDDLDocumentLineDocument><ram:LineID>1</ram:LineID><ram:OrderLineID>{plan}</ram:OrderLineID></ram:AssociatedCIDDLDocumentLineDocument><ram:SpecifiedCIDDLSupplyChainTradeDelivery><ram:BilledQuantity unitCode=\"HUR\">1.00</ram:BilledQuantity></ram:SpecifiedCIDDLSupplyChainTradeDelivery><ram:SpecifiedCIDDLSupplyChainTradeSettlement><ram:CadreIntervention listID=\"ESPPADOM_CADRE\" listAgencyName=\"EDESS\">PRE</ram:CadreIntervention></ram:SpecifiedCIDDLSupplyChainTradeSettlement><ram:SpecifiedCITradeProduct><qdt:ID listID=\"ESPPADOM_TYPE_AIDE\" listAgencyName=\"EDESS\">APA</qdt:ID><qdt:Name>Aide humaine APA</qdt:Name></ram:SpecifiedCITradeProduct></ram:IncludedCIDDLSupplyChainTradeLineItem>\n",
                "</ns:CIDDHSupplyChainTradeTransaction>\n",
                "</ns:CrossIndustryDespatchAdvice>\n"
            ),
            tid = transmission,
            id = v.id,
            ben = beneficiary(p),
            saad = saad,
            siret = siret,
            worker = worker(p),
            type_code = type_code,
            start = v.start,
            end = v.end,
            stamps = stamps,
            plan = plan_ref(p),
        );
    }
    out.push_str("</ns:delivery>\n");
    out.into_bytes()
}

/// The same visits as a JSON delivery (api.md "Delivery").
pub fn delivery_json(transmission: &str, visits: &[Visit]) -> Vec<u8> {
    let lines: Vec<Value> = visits
        .iter()
        .map(|v| {
            let (raw_end, corrected_start, corrected_end, reason) = if v.corrected {
                (
                    Value::Null,
                    json!(v.start),
                    json!(v.end),
                    json!("FORGOTTEN"),
                )
            } else {
                (json!(v.end), Value::Null, Value::Null, Value::Null)
            };
            json!({"line_id": v.id, "plan_ref": plan_ref(v.plan), "beneficiary_id": beneficiary(v.plan),
                "worker_id": worker(v.plan), "aid_type": "APA", "raw_start": v.start, "raw_end": raw_end,
                "corrected_start": corrected_start, "corrected_end": corrected_end,
                "correction_reason": reason, "declarative": false, "timesheet_ref": null})
        })
        .collect();
    serde_json::to_vec(&json!({"transmission_id": transmission, "interventions": lines}))
        .expect("JSON of generated values")
}

/// SAAD `saad`'s visits of January `day`: one per plan, 09:00–10:00, raw
/// stamps.
pub fn day_visits(saad: usize, day: u32, month: &str) -> Vec<Visit> {
    (saad * PLANS_PER_SAAD..(saad + 1) * PLANS_PER_SAAD)
        .map(|p| Visit {
            id: format!("{month}-{day:02}-{p:07}"),
            plan: p,
            start: format!("{month}-{day:02}T09:00:00"),
            end: format!("{month}-{day:02}T10:00:00"),
            corrected: false,
        })
        .collect()
}

/// The 100 000-intervention file (memory scenario): SAAD 0's plans in
/// February, four visits a day (07, 10, 13, 16 h, one hour each), `COD`
/// corrected so that the 48-hour delay does not apply; `count` visits.
pub fn big_visits(count: usize) -> Vec<Visit> {
    let hours = [7u32, 10, 13, 16];
    (0..count)
        .map(|k| {
            let p = k % PLANS_PER_SAAD;
            let slot = k / PLANS_PER_SAAD;
            let day = 1 + (slot / hours.len()) % 28;
            let hour = hours[slot % hours.len()];
            Visit {
                id: format!("BIG-{k:07}"),
                plan: p,
                start: format!("2024-02-{day:02}T{hour:02}:00:00"),
                end: format!("2024-02-{day:02}T{:02}:00:00", hour + 1),
                corrected: true,
            }
        })
        .collect()
}

/// Real-time visits a beneficiary gets a day: 07, 09, 11, 13, 15 and 17 h.
pub const REALTIME_VISITS_PER_DAY: usize = 6;

/// The March day of real-time visit number `j` (of any SAAD): each of a
/// SAAD's plans gets its day's visits before the next day starts. `None`
/// once March is used up.
pub fn realtime_day(j: usize) -> Option<usize> {
    let day = 1 + j / PLANS_PER_SAAD / REALTIME_VISITS_PER_DAY;
    (day <= 31).then_some(day)
}

/// Real-time visit number `j` of SAAD `saad`: on [`realtime_day`]`(j)`,
/// 9 minutes, raw stamps, so a beneficiary has at most
/// [`REALTIME_VISITS_PER_DAY`] visits a day, as a heavy APA plan has.
/// The load generator moves the gateway's clock to [`realtime_clock`] of a
/// visit's day before posting it (within the 48-hour delay of R3, never in
/// the future as R1 forbids). `None` once March is used up.
pub fn realtime_visit(saad: usize, j: usize) -> Option<Visit> {
    let day = realtime_day(j)?;
    let p = saad * PLANS_PER_SAAD + j % PLANS_PER_SAAD;
    let h = 7 + 2 * (j / PLANS_PER_SAAD % REALTIME_VISITS_PER_DAY);
    Some(Visit {
        id: format!("RT-{j:07}-{p:07}"),
        plan: p,
        start: format!("2024-03-{day:02}T{h:02}:00:00"),
        end: format!("2024-03-{day:02}T{h:02}:09:00"),
        corrected: false,
    })
}

/// The gateway clock under which the real-time visits of March `day` are
/// posted: 23:00 of that day (local time).
pub fn realtime_clock(day: usize) -> String {
    format!("2024-03-{day:02}T23:00:00")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sirets_pass_luhn_and_differ() {
        assert!(luhn_ok(&siret(0)));
        assert!(luhn_ok(&siret(999)));
        assert_ne!(siret(1), siret(2));
        assert_eq!(siret(7).len(), 14);
    }

    #[test]
    fn realtime_visits_are_on_time_under_their_days_clock() {
        use chrono::NaiveDateTime;
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").expect("time");
        let per_day = PLANS_PER_SAAD * REALTIME_VISITS_PER_DAY;
        for j in [0, per_day - 1, per_day, 5 * per_day + 17, 31 * per_day - 1] {
            let visit = realtime_visit(3, j).expect("in March");
            let day = realtime_day(j).expect("in March");
            let clock = at(&realtime_clock(day));
            // Not in the future (R1) under its own day's clock…
            assert!(at(&visit.end) <= clock, "{visit:?}");
            // …and within 48 h (R3) under the next day's, when still in flight.
            if day < 31 {
                let next = at(&realtime_clock(day + 1));
                assert!(
                    next - at(&visit.start) <= chrono::Duration::hours(48),
                    "{visit:?}"
                );
            }
        }
        assert!(realtime_visit(0, 31 * per_day).is_none());
        let first_of_day_two = realtime_visit(0, per_day).expect("in March");
        assert!(first_of_day_two.start.starts_with("2024-03-02T07:00"));
    }

    #[test]
    fn generated_deliveries_read_without_problems() {
        let visits = day_visits(1, 3, "2024-01");
        let bytes = delivery_xml(1, "T-1", &visits[..5]);
        let read = saad_gateway::xml::read_delivery(&bytes).expect("readable");
        assert_eq!(read.lines.len(), 5);
        assert!(read.lines.iter().all(|l| l.submission.problem.is_none()));
        let big = big_visits(5_000);
        let ids: std::collections::HashSet<_> = big.iter().map(|v| (v.plan, &v.start)).collect();
        assert_eq!(ids.len(), 5_000, "no two visits of a plan at the same time");
    }
}
