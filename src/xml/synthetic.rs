//! Synthetic DELIVERY documents for benchmarks and load tests: realistic
//! shape (compani's tree, esppadom.md §3.1), deterministic from a seed, no
//! personal data. Ids are generated ASCII, so plain formatting is safe here.

use std::fmt::Write;

/// A DELIVERY `delivery` wrapper with `interventions` messages. About 10 %
/// are `COD` corrections, 5 % `COA`, the rest fully stamped; durations vary
/// from 20 to 200 minutes over January 2024.
pub fn delivery(interventions: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*: deterministic, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = String::with_capacity(interventions.saturating_mul(2600).saturating_add(600));
    out.push_str(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#, "\n",
        r#"<ns:delivery versionID="1.4" xmlns:ns="urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:8" xmlns:pie="urn:un:unece:uncefact:data:standard:PersonInformationEntity:1" xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:8">"#, "\n"
    ));
    for index in 0..interventions {
        let random = next();
        let day = 1 + random % 28;
        let start_minute = 7 * 60 + (random >> 8) % (12 * 60);
        let duration = 20 + (random >> 20) % 180;
        let end_minute = start_minute + duration;
        let (sh, sm, eh, em) = (
            start_minute / 60,
            start_minute % 60,
            end_minute / 60,
            end_minute % 60,
        );
        let kind = (random >> 40) % 20;
        let type_code = match kind {
            0 | 1 => {
                r#"<ram:TypeCode listID="ESPPADOM_EFFECTIVITY_AJUST" listAgencyName="EDESS">COD</ram:TypeCode>"#
            }
            2 => {
                r#"<ram:TypeCode listID="ESPPADOM_EFFECTIVITY_AJUST" listAgencyName="EDESS">COA</ram:TypeCode>"#
            }
            _ => "",
        };
        let start = format!("2024-01-{day:02}T{sh:02}:{sm:02}:00");
        let end = format!("2024-01-{day:02}T{eh:02}:{em:02}:00");
        let stamp = |name: &str, at: &str| {
            format!(
                "<ram:{name}><ram:CertifiedDateTime>{at}</ram:CertifiedDateTime><ram:CustomerIdentificationMethod listID=\"ESPPADOM_TIMESTAMP_METHOD\" listAgencyName=\"EDESS\">BDG</ram:CustomerIdentificationMethod><ram:SupplierIdentificationMethod listID=\"ESPPADOM_TIMESTAMP_METHOD\" listAgencyName=\"EDESS\">BDG</ram:SupplierIdentificationMethod></ram:{name}>"
            )
        };
        let raw_start = if kind == 2 {
            String::new()
        } else {
            stamp("StartDateTime", &start)
        };
        let raw_end = if kind < 2 {
            String::new()
        } else {
            stamp("EndDateTime", &end)
        };
        let beneficiary = (random >> 16) % 5000;
        let worker = (random >> 32) % 800;
        let hours_x100 = duration * 100 / 60;
        let _ = write!(
            out,
            concat!(
                "<ns:CrossIndustryDespatchAdvice>\n",
                "<ns:CIDDHExchangedDocumentContext><ram:VersionID>1.4</ram:VersionID><ram:SpecifiedTransactionID>T-SYN-{seed}</ram:SpecifiedTransactionID></ns:CIDDHExchangedDocumentContext>\n",
                "<ns:CIDDHExchangedDocument><ram:ID>SYN-{seed}-{index:07}</ram:ID><ram:IssueDateTime>2024-02-01T07:00:00</ram:IssueDateTime></ns:CIDDHExchangedDocument>\n",
                "<ns:CIDDHSupplyChainTradeTransaction>\n",
                "<ram:ApplicableCIDDHSupplyChainTradeAgreement><ram:BuyerOrderReferencedCIReferencedDocument><ram:IssuerCITradeParty><pie:ID>CD99</pie:ID><pie:Name>Departement Fictif 99</pie:Name></ram:IssuerCITradeParty></ram:BuyerOrderReferencedCIReferencedDocument></ram:ApplicableCIDDHSupplyChainTradeAgreement>\n",
                "<ram:ApplicableCIDDHSupplyChainTradeDelivery>\n",
                "<ram:ShipToCITradeParty><pie:ID>BEN-{beneficiary:06}</pie:ID><pie:Name>Beneficiaire {beneficiary}</pie:Name><pie:PostalCITradeAddress><pie:LineOne>1 rue Fictive</pie:LineOne><pie:PostcodeCode>99001</pie:PostcodeCode><pie:CityName>Ville</pie:CityName><pie:CountryID>FR</pie:CountryID></pie:PostalCITradeAddress></ram:ShipToCITradeParty>\n",
                "<ram:ShipFromCITradeParty><pie:ID>SAAD-99-0042</pie:ID><pie:Name>SAAD Exemple</pie:Name><pie:SIRET>00000000000018</pie:SIRET><pie:DefinedCITradeContact><pie:ID>IV-{worker:04}</pie:ID><pie:TypeCode listID=\"ESPPADOM_CONTACT_PRESTATAIRE\" listAgencyName=\"EDESS\">INT</pie:TypeCode></pie:DefinedCITradeContact></ram:ShipFromCITradeParty>\n",
                "<ram:ActualDespatchCISupplyChainEvent>{type_code}<ram:OccurrenceCISpecifiedPeriod><qdt:StartDateTime>{start}</qdt:StartDateTime><qdt:EndDateTime>{end}</qdt:EndDateTime></ram:OccurrenceCISpecifiedPeriod></ram:ActualDespatchCISupplyChainEvent>\n",
                "<ram:AdditionalReferencedCIReferencedDocument><ram:EffectiveCISpecifiedPeriod>{raw_start}{raw_end}</ram:EffectiveCISpecifiedPeriod></ram:AdditionalReferencedCIReferencedDocument>\n",
                "</ram:ApplicableCIDDHSupplyChainTradeDelivery>\n",
                "<ram:ApplicableCIDDHSupplyChainTradeSettlement/>\n",
                "<ram:IncludedCIDDLSupplyChainTradeLineItem><ram:AssociatedCIDDLDocumentLineDocument><ram:LineID>1</ram:LineID><ram:OrderLineID>PA-APA-{beneficiary:06}</ram:OrderLineID></ram:AssociatedCIDDLDocumentLineDocument><ram:SpecifiedCIDDLSupplyChainTradeDelivery><ram:BilledQuantity unitCode=\"HUR\">{hours}.{cents:02}</ram:BilledQuantity></ram:SpecifiedCIDDLSupplyChainTradeDelivery><ram:SpecifiedCIDDLSupplyChainTradeSettlement><ram:CadreIntervention listID=\"ESPPADOM_CADRE\" listAgencyName=\"EDESS\">PRE</ram:CadreIntervention></ram:SpecifiedCIDDLSupplyChainTradeSettlement><ram:SpecifiedCITradeProduct><qdt:ID listID=\"ESPPADOM_TYPE_AIDE\" listAgencyName=\"EDESS\">APA</qdt:ID><qdt:Name>Aide humaine APA</qdt:Name></ram:SpecifiedCITradeProduct></ram:IncludedCIDDLSupplyChainTradeLineItem>\n",
                "</ns:CIDDHSupplyChainTradeTransaction>\n",
                "</ns:CrossIndustryDespatchAdvice>\n"
            ),
            seed = seed,
            index = index,
            beneficiary = beneficiary,
            worker = worker,
            type_code = type_code,
            start = start,
            end = end,
            raw_start = raw_start,
            raw_end = raw_end,
            hours = hours_x100 / 100,
            cents = hours_x100 % 100,
        );
    }
    out.push_str("</ns:delivery>\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::read_delivery;

    #[test]
    fn synthetic_deliveries_read_without_problems_and_are_deterministic() {
        let bytes = delivery(200, 7);
        assert_eq!(bytes, delivery(200, 7));
        let read = read_delivery(&bytes).unwrap();
        assert_eq!(read.lines.len(), 200);
        assert!(read.lines.iter().all(|l| l.submission.problem.is_none()));
        assert!(
            read.lines
                .iter()
                .any(|l| l.submission.correction_reason.is_some())
        );
        assert_eq!(read.lines[3].submission.line_id, "SYN-7-0000003");
    }
}
