//! Loading of the `charter/` folder into [`Parameters`].
//!
//! This is the only place that reads the charter files. Every refusal names
//! the file and the line (and the key where there is one) so that the
//! finance officer editing a value can find it. The consistency of periods is
//! checked again by [`Parameters::new`]; here it is checked first with line
//! numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

use crate::domain::params::{DatedValue, Parameters, RejectionText, check_periods, keys};
use crate::domain::types::{CorrectionReason, RejectionCode};

/// File holding the dated parameters.
pub const PARAMETERS_FILE: &str = "parameters.toml";
/// File holding the correction reasons.
pub const CORRECTION_REASONS_FILE: &str = "correction-reasons.toml";
/// File holding the rejection codes' texts.
pub const REJECTION_CODES_FILE: &str = "rejection-codes.toml";

/// Keys the charter may hold beyond those the rules require: reference
/// values (listed in rules-reference.md) and the APA participation formula.
pub const REFERENCE_KEYS: &[&str] = &[
    keys::SMIC_HOURLY_GROSS,
    "apa.participation.s1_coef",
    "apa.participation.s2_coef",
    "apa.participation.slice1_coef",
    "apa.participation.slice2_coef",
    "apa.participation.max_rate",
    "apa.participation.slice2_keep",
    "apa.participation.slice3_keep",
    "apa.couple_resource_divisor",
    "pch.coverage_rate.full",
    "pch.coverage_rate.reduced",
];

/// Why the charter could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct CharterError {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line (0 when the problem is the file as a whole).
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParametersFile {
    parameter: Vec<Spanned<ParameterEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParameterEntry {
    key: String,
    value: String,
    unit: String,
    valid_from: String,
    #[serde(default)]
    valid_to: Option<String>,
    provenance: String,
    confidence: String,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonsFile {
    reason: Vec<Spanned<ReasonEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonEntry {
    code: String,
    label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesFile {
    code: Vec<Spanned<CodeEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeEntry {
    code: String,
    message: String,
    remedy: String,
}

/// The project's own `charter/` folder (used by tests and as the default of
/// `--charter-dir` when run from the source tree).
pub fn default_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/charter"))
}

/// Loads and checks the whole charter folder.
pub fn load_dir(dir: &Path) -> Result<Parameters, CharterError> {
    let series = load_parameters(&dir.join(PARAMETERS_FILE))?;
    let labels = load_reasons(&dir.join(CORRECTION_REASONS_FILE))?;
    let texts = load_codes(&dir.join(REJECTION_CODES_FILE))?;
    let file = dir.join(PARAMETERS_FILE);
    let params = Parameters::new(series, texts, labels).map_err(|e| CharterError {
        file: file.clone(),
        line: 0,
        message: e.to_string(),
    })?;
    params.check_required().map_err(|e| CharterError {
        file,
        line: 0,
        message: e.to_string(),
    })?;
    Ok(params)
}

fn read(path: &Path) -> Result<String, CharterError> {
    fs::read_to_string(path).map_err(|e| CharterError {
        file: path.to_owned(),
        line: 0,
        message: format!("cannot read the charter file: {e}"),
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, CharterError> {
    toml::from_str(text).map_err(|e| CharterError {
        file: path.to_owned(),
        line: e.span().map_or(0, |span| line_of(text, span.start)),
        message: e.message().to_owned(),
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |before| {
        before.bytes().filter(|b| *b == b'\n').count() + 1
    })
}

fn error_at(path: &Path, text: &str, span: &Range<usize>, message: String) -> CharterError {
    CharterError {
        file: path.to_owned(),
        line: line_of(text, span.start),
        message,
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

fn load_parameters(path: &Path) -> Result<BTreeMap<String, Vec<DatedValue>>, CharterError> {
    let text = read(path)?;
    let file: ParametersFile = parse(path, &text)?;
    let known: BTreeSet<&str> = keys::REQUIRED
        .iter()
        .chain(REFERENCE_KEYS)
        .copied()
        .collect();
    let mut series: BTreeMap<String, Vec<(DatedValue, Range<usize>)>> = BTreeMap::new();
    for spanned in &file.parameter {
        let span = spanned.span();
        let entry = spanned.get_ref();
        let fail = |message: String| error_at(path, &text, &span, message);
        if !known.contains(entry.key.as_str()) {
            return Err(fail(format!(
                "unknown parameter key '{}': the known keys are listed in src/domain/params.rs (keys) and charter/README.md",
                entry.key
            )));
        }
        let value = Decimal::from_str(entry.value.trim()).map_err(|_| {
            fail(format!(
                "parameter '{}': value '{}' is not a decimal number (write it as a string, e.g. \"23.50\")",
                entry.key, entry.value
            ))
        })?;
        let valid_from = parse_date(&entry.valid_from).ok_or_else(|| {
            fail(format!(
                "parameter '{}': valid_from '{}' is not a date YYYY-MM-DD",
                entry.key, entry.valid_from
            ))
        })?;
        let valid_to = match &entry.valid_to {
            None => None,
            Some(to) => Some(parse_date(to).ok_or_else(|| {
                fail(format!(
                    "parameter '{}': valid_to '{to}' is not a date YYYY-MM-DD",
                    entry.key
                ))
            })?),
        };
        if valid_to.is_some_and(|to| to <= valid_from) {
            return Err(fail(format!(
                "parameter '{}': valid_to must be after valid_from (valid_to is exclusive)",
                entry.key
            )));
        }
        let needs_confirmation = match entry.confidence.as_str() {
            "C" | "L" => false,
            "U" => true,
            other => {
                return Err(fail(format!(
                    "parameter '{}': confidence '{other}' must be C, L or U",
                    entry.key
                )));
            }
        };
        let _documented = (&entry.unit, &entry.provenance, &entry.source);
        series.entry(entry.key.clone()).or_default().push((
            DatedValue {
                value,
                valid_from,
                valid_to,
                needs_confirmation,
            },
            span.clone(),
        ));
    }
    let mut out = BTreeMap::new();
    for (key, mut entries) in series {
        entries.sort_by_key(|(v, _)| v.valid_from);
        let (values, spans): (Vec<DatedValue>, Vec<Range<usize>>) = entries.into_iter().unzip();
        if let Err((index, error)) = check_periods(&key, &values) {
            let span = spans.get(index).cloned().unwrap_or(0..0);
            return Err(error_at(path, &text, &span, error.to_string()));
        }
        out.insert(key, values);
    }
    Ok(out)
}

fn load_reasons(path: &Path) -> Result<BTreeMap<CorrectionReason, String>, CharterError> {
    let text = read(path)?;
    let file: ReasonsFile = parse(path, &text)?;
    let mut labels = BTreeMap::new();
    for spanned in &file.reason {
        let span = spanned.span();
        let entry = spanned.get_ref();
        let reason = CorrectionReason::from_str(&entry.code)
            .map_err(|e| error_at(path, &text, &span, e.message))?;
        if labels.insert(reason, entry.label.clone()).is_some() {
            return Err(error_at(
                path,
                &text,
                &span,
                format!("correction reason {} is listed twice", entry.code),
            ));
        }
    }
    if let Some(missing) = CorrectionReason::ALL
        .iter()
        .find(|r| !labels.contains_key(r))
    {
        return Err(CharterError {
            file: path.to_owned(),
            line: 0,
            message: format!("correction reason {missing} has no label"),
        });
    }
    Ok(labels)
}

fn load_codes(path: &Path) -> Result<BTreeMap<RejectionCode, RejectionText>, CharterError> {
    let text = read(path)?;
    let file: CodesFile = parse(path, &text)?;
    let mut texts = BTreeMap::new();
    for spanned in &file.code {
        let span = spanned.span();
        let entry = spanned.get_ref();
        let code = RejectionCode::from_str(&entry.code)
            .map_err(|e| error_at(path, &text, &span, e.message))?;
        let previous = texts.insert(
            code,
            RejectionText {
                message: entry.message.clone(),
                remedy: entry.remedy.clone(),
            },
        );
        if previous.is_some() {
            return Err(error_at(
                path,
                &text,
                &span,
                format!("rejection code {} is listed twice", entry.code),
            ));
        }
    }
    if let Some(missing) = RejectionCode::ALL.iter().find(|c| !texts.contains_key(c)) {
        return Err(CharterError {
            file: path.to_owned(),
            line: 0,
            message: format!("rejection code {missing} has no message and remedy"),
        });
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn copy_charter_with(parameters_tail: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            PARAMETERS_FILE,
            CORRECTION_REASONS_FILE,
            REJECTION_CODES_FILE,
        ] {
            fs::copy(default_dir().join(file), dir.path().join(file)).unwrap();
        }
        let mut text = fs::read_to_string(dir.path().join(PARAMETERS_FILE)).unwrap();
        text.push_str(parameters_tail);
        fs::write(dir.path().join(PARAMETERS_FILE), text).unwrap();
        dir
    }

    #[test]
    fn the_project_charter_loads_and_defines_every_required_key() {
        let params = load_dir(&default_dir()).unwrap();
        for key in keys::REQUIRED {
            assert!(!params.series(key).is_empty(), "{key}");
        }
        let day = NaiveDate::from_ymd_opt(2024, 1, 12).unwrap();
        assert_eq!(params.rounding_at(day).unwrap().round(52), 45);
        assert_eq!(params.transmission_delay_minutes(day).unwrap(), 48 * 60);
    }

    #[test]
    fn r8_gir_ceilings_match_the_published_values() {
        let params = load_dir(&default_dir()).unwrap();
        let expected_2024 = [dec!(1955.60), dec!(1581.44), dec!(1143.09), dec!(762.87)];
        let expected_2025 = [dec!(2045.56), dec!(1654.18), dec!(1195.67), dec!(797.96)];
        for (gir, (y24, y25)) in (1u8..=4).zip(expected_2024.iter().zip(&expected_2025)) {
            assert_eq!(
                params.apa_gir_ceiling(gir, 2024).unwrap(),
                *y24,
                "GIR {gir} 2024"
            );
            assert_eq!(
                params.apa_gir_ceiling(gir, 2025).unwrap(),
                *y25,
                "GIR {gir} 2025"
            );
        }
    }

    #[test]
    fn r8_autorise_cap_is_the_higher_of_reference_ceiling_and_national_floor() {
        let params = load_dir(&default_dir()).unwrap();
        let d2024 = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        let d2025 = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        use crate::domain::types::AidType;
        assert_eq!(
            params.autorise_rate_cap(AidType::Apa, d2024).unwrap(),
            Some(dec!(23.50))
        );
        assert_eq!(
            params.autorise_rate_cap(AidType::Apa, d2025).unwrap(),
            Some(dec!(24.58))
        );
        assert_eq!(params.autorise_rate_cap(AidType::Am, d2025).unwrap(), None);
    }

    #[test]
    fn every_rejection_code_has_a_french_message_and_a_remedy() {
        let params = load_dir(&default_dir()).unwrap();
        for code in RejectionCode::ALL {
            let text = params.rejection_text(*code).unwrap();
            assert!(
                !text.message.is_empty() && !text.remedy.is_empty(),
                "{code}"
            );
        }
    }

    #[test]
    fn charter_refuses_overlapping_periods_naming_file_and_line() {
        let dir = copy_charter_with(
            "\n[[parameter]]\nkey = \"floor.saad_hour\"\nvalue = \"30\"\nunit = \"EUR/h\"\nvalid_from = \"2025-06-01\"\nvalid_to = \"2025-07-01\"\nprovenance = \"TEST\"\nconfidence = \"C\"\n",
        );
        let err = load_dir(dir.path()).unwrap_err();
        assert!(err.file.ends_with(PARAMETERS_FILE));
        let text = fs::read_to_string(dir.path().join(PARAMETERS_FILE)).unwrap();
        let header_line = text.lines().count() - 7;
        assert_eq!(err.line, header_line, "{err}");
        assert!(err.message.contains("overlaps"), "{err}");
    }

    #[test]
    fn charter_refuses_gapped_periods() {
        let dir = copy_charter_with(
            "\n[[parameter]]\nkey = \"am.max_hours.single\"\nvalue = \"30\"\nunit = \"h\"\nvalid_from = \"2010-01-01\"\nvalid_to = \"2012-01-01\"\nprovenance = \"TEST\"\nconfidence = \"C\"\n",
        );
        let err = load_dir(dir.path()).unwrap_err();
        assert!(err.message.contains("gap"), "{err}");
        assert!(err.line > 0);
    }

    #[test]
    fn charter_refuses_unknown_fields_and_unknown_keys_with_their_line() {
        let dir = copy_charter_with(
            "\n[[parameter]]\nkey = \"mtp.montly\"\nvalue = \"1\"\nunit = \"EUR\"\nvalid_from = \"2024-01-01\"\nprovenance = \"TEST\"\nconfidence = \"C\"\n",
        );
        let err = load_dir(dir.path()).unwrap_err();
        assert!(
            err.message.contains("unknown parameter key 'mtp.montly'"),
            "{err}"
        );
        assert!(err.line > 0);

        let dir = copy_charter_with("\n[[parameter]]\nkey = \"mtp.monthly\"\nvalu = \"1\"\n");
        let err = load_dir(dir.path()).unwrap_err();
        assert!(err.message.contains("unknown field"), "{err}");
        assert!(err.line > 0, "{err}");
    }
}
