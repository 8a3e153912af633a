//! SAAD registration (api.md `POST /api/v1/saads`): the checks a SAAD must
//! pass before it is stored — payment details (IBAN checksum, BIC shape) and
//! tariffs (one aid type once, tariff periods well ordered and not
//! overlapping for one aid type, R8).

use iban::{Iban, IbanLike};

use crate::domain::model::{Saad, Tariff};

/// Why a SAAD cannot be stored: the field (JSON path) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SaadInvalid {
    /// JSON path of the field, e.g. `aid_types[0].tariffs[1]`.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl SaadInvalid {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a SAAD and returns it with its IBAN and BIC normalised (IBAN in
/// electronic form, without spaces; BIC upper case).
pub fn check_saad(mut saad: Saad) -> Result<Saad, SaadInvalid> {
    let iban: Iban = saad
        .iban
        .parse()
        .map_err(|e| SaadInvalid::new("iban", format!("invalid IBAN: {e}")))?;
    saad.iban = iban.electronic_str().to_owned();
    saad.bic = saad.bic.trim().to_ascii_uppercase();
    check_bic(&saad.bic)?;
    for (index, aid) in saad.aid_types.iter().enumerate() {
        if saad.aid_types[..index]
            .iter()
            .any(|other| other.aid_type == aid.aid_type)
        {
            return Err(SaadInvalid::new(
                format!("aid_types[{index}].aid_type"),
                format!("aid type {} is listed twice", aid.aid_type),
            ));
        }
        check_tariffs(index, &aid.tariffs)?;
    }
    Ok(saad)
}

/// ISO 9362 shape: 4 letters (institution), 2 letters (country), 2
/// letters or digits (location), optionally 3 letters or digits (branch).
fn check_bic(bic: &str) -> Result<(), SaadInvalid> {
    let bytes = bic.as_bytes();
    let shape_ok = (bytes.len() == 8 || bytes.len() == 11)
        && bytes[..6].iter().all(u8::is_ascii_uppercase)
        && bytes[6..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if shape_ok {
        Ok(())
    } else {
        Err(SaadInvalid::new(
            "bic",
            "invalid BIC: expected 8 or 11 characters (AAAA BB CC [DDD])",
        ))
    }
}

/// Tariffs of one aid type: `valid_to` not before `valid_from`, and no two
/// periods sharing a day (`valid_to` inclusive, `None` open-ended).
fn check_tariffs(aid_index: usize, tariffs: &[Tariff]) -> Result<(), SaadInvalid> {
    for (index, tariff) in tariffs.iter().enumerate() {
        let field = format!("aid_types[{aid_index}].tariffs[{index}]");
        if tariff.valid_to.is_some_and(|to| to < tariff.valid_from) {
            return Err(SaadInvalid::new(field, "valid_to is before valid_from"));
        }
        if tariff.hourly_rate <= rust_decimal::Decimal::ZERO {
            return Err(SaadInvalid::new(
                format!("{field}.hourly_rate"),
                "the hourly rate must be positive",
            ));
        }
        if let Some(other) = tariffs[..index].iter().position(|o| overlaps(o, tariff)) {
            return Err(SaadInvalid::new(
                field,
                format!("overlaps tariff {other} of the same aid type"),
            ));
        }
    }
    Ok(())
}

fn overlaps(a: &Tariff, b: &Tariff) -> bool {
    let a_before_b = a.valid_to.is_some_and(|to| to < b.valid_from);
    let b_before_a = b.valid_to.is_some_and(|to| to < a.valid_from);
    !a_before_b && !b_before_a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saad() -> Saad {
        serde_json::from_value(serde_json::json!({
            "siret": "00000000000018", "name": "S", "iban": "FR76 3000 6000 0112 3456 7890 189",
            "bic": "agrifrpp", "declarative": false,
            "aid_types": [{"aid_type": "APA", "status": "habilite", "tariffs": [
                {"valid_from": "2024-01-01", "valid_to": "2024-06-30", "hourly_rate": "24.00"},
                {"valid_from": "2024-07-01", "valid_to": null, "hourly_rate": "25.00"}]}]
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_saad_is_normalised() {
        let checked = check_saad(saad()).unwrap();
        assert_eq!(checked.iban, "FR7630006000011234567890189");
        assert_eq!(checked.bic, "AGRIFRPP");
    }

    #[test]
    fn overlapping_tariffs_are_refused_naming_the_tariff() {
        let mut s = saad();
        s.aid_types[0].tariffs[1].valid_from =
            chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
        let error = check_saad(s).unwrap_err();
        assert_eq!(error.field, "aid_types[0].tariffs[1]");
    }

    #[test]
    fn a_bad_iban_or_bic_names_its_field() {
        let mut s = saad();
        s.iban = "FR7630006000011234567890188".into();
        assert_eq!(check_saad(s).unwrap_err().field, "iban");
        let mut s = saad();
        s.bic = "AGRI".into();
        assert_eq!(check_saad(s).unwrap_err().field, "bic");
    }
}
