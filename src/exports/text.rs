//! Small text and amount helpers shared by the three writers: amounts with
//! two decimals, truncation on a character boundary, IBAN and BIC checks.

use iban::{Iban, IbanLike};
use rust_decimal::Decimal;

/// Whether an amount is a whole number of cents (no rounding is ever done
/// by the writers: an amount with more decimals is refused).
pub fn is_in_cents(amount: Decimal) -> bool {
    amount.normalize().scale() <= 2
}

/// An amount with exactly two decimals and `.` as separator (`-12.50`,
/// `0.00`). The amount must already be in cents ([`is_in_cents`]); it is
/// never rounded here.
pub fn amount_2dp(amount: Decimal) -> String {
    let mut value = if amount.is_zero() {
        Decimal::ZERO
    } else {
        amount.normalize()
    };
    if value.scale() < 2 {
        value.rescale(2);
    }
    value.to_string()
}

/// The first `max` characters of `text` (never cutting a character).
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `text` with control characters (line breaks, tabs…) replaced by spaces
/// and surrounding spaces trimmed: several XML 1.0 control characters cannot
/// be written at all, and a line break has no place in a name or label.
pub fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Parses an IBAN (electronic or print format) and returns its electronic
/// format; the reason otherwise.
pub fn parse_iban(text: &str) -> Result<String, String> {
    text.parse::<Iban>()
        .map(|iban| iban.electronic_str().to_owned())
        .map_err(|e| format!("invalid IBAN '{text}': {e}"))
}

/// Checks a BIC against the ISO 9362 shape pain.001.001.09 accepts
/// (`[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?`).
pub fn check_bic(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let upper_alnum = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let ok = matches!(bytes.len(), 8 | 11)
        && bytes.iter().all(upper_alnum)
        && bytes
            .get(4..6)
            .is_some_and(|cc| cc.iter().all(u8::is_ascii_uppercase));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid BIC '{text}': expected 8 or 11 capital letters and digits, the 5th and 6th being the country"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_are_written_with_two_decimals_without_rounding() {
        assert_eq!(amount_2dp(dec!(12)), "12.00");
        assert_eq!(amount_2dp(dec!(12.5)), "12.50");
        assert_eq!(amount_2dp(dec!(-0.01)), "-0.01");
        assert_eq!(amount_2dp(dec!(1.2300)), "1.23");
        assert_eq!(amount_2dp(-dec!(0.00)), "0.00");
        assert!(!is_in_cents(dec!(1.005)));
        assert!(is_in_cents(dec!(1.0500)));
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_chars("Aide à domicile", 7), "Aide à ");
        assert_eq!(truncate_chars("éé", 5), "éé");
        assert_eq!(truncate_chars("ééé", 2), "éé");
    }

    #[test]
    fn bic_shape_is_checked() {
        assert!(check_bic("BDFEFRPPCCT").is_ok());
        assert!(check_bic("AGRIFRPP").is_ok());
        assert!(check_bic("agrifrpp").is_err());
        assert!(check_bic("AGRI12PP").is_err());
        assert!(check_bic("AGRIFRPP1").is_err());
    }

    #[test]
    fn iban_is_checked_and_compacted() {
        assert_eq!(
            parse_iban("FR76 3000 6000 0112 3456 7890 189").as_deref(),
            Ok("FR7630006000011234567890189")
        );
        assert!(parse_iban("FR7630006000011234567890188").is_err());
    }
}
