//! Strict query parameters: every route names the parameters it accepts, and anything else
//! (an unknown name, a repeated name, an empty value, a number out of bounds) is a 400 that
//! names the parameter, so a client's typo never silently falls back to a default.

use std::ops::RangeInclusive;
use std::str::FromStr;

use super::error::ApiError;

/// Longest query string accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 2048;

/// A request's query parameters, checked against what the route accepts.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string, accepting only the names in `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let raw = raw.unwrap_or("");
        if raw.len() > MAX_QUERY_BYTES {
            return Err(ApiError::bad_request(format!(
                "the query string is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
                raw.len()
            )));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            if name.is_empty() && value.is_empty() {
                continue;
            }
            if !allowed.contains(&name.as_ref()) {
                let accepted = if allowed.is_empty() {
                    "this route takes no parameters".to_owned()
                } else {
                    format!("this route accepts {}", allowed.join(", "))
                };
                return Err(ApiError::bad_parameter(
                    &printable(&name),
                    format!("unknown parameter; {accepted}"),
                ));
            }
            if pairs.iter().any(|(seen, _)| *seen == name) {
                return Err(ApiError::bad_parameter(&name, "given more than once"));
            }
            if value.is_empty() {
                return Err(ApiError::bad_parameter(&name, "empty value"));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self { pairs })
    }

    /// Returns a parameter's raw value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(seen, _)| seen == name)
            .map(|(_, value)| value.as_str())
    }

    /// Parses a parameter with `parse`, whose error becomes a 400 naming it.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|value| parse(value).map_err(|problem| ApiError::bad_parameter(name, problem)))
            .transpose()
    }

    /// Parses a parameter with its `FromStr`.
    pub fn value<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.parsed(name, |text| text.parse::<T>().map_err(|e| e.to_string()))
    }

    /// Parses an integer parameter within `bounds`.
    pub fn int(&self, name: &str, bounds: RangeInclusive<i64>) -> Result<Option<i64>, ApiError> {
        self.parsed(name, |text| {
            let value: i64 = text
                .parse()
                .map_err(|_| format!("{:?} is not an integer", printable(text)))?;
            if bounds.contains(&value) {
                Ok(value)
            } else {
                Err(format!(
                    "{value} is out of bounds: expected {} to {}",
                    bounds.start(),
                    bounds.end()
                ))
            }
        })
    }
}

/// A value safe to echo in an error message: at most 64 characters, control characters
/// replaced.
pub fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_repeated_and_empty_parameters_are_named() {
        let err = Params::parse(Some("limit=5&lmit=3"), &["limit"]).err();
        assert_eq!(err.map(|e| e.message.contains("`lmit`")), Some(true));
        let err = Params::parse(Some("limit=5&limit=3"), &["limit"]).err();
        assert_eq!(
            err.map(|e| e.message.contains("more than once")),
            Some(true)
        );
        let err = Params::parse(Some("limit="), &["limit"]).err();
        assert_eq!(err.map(|e| e.message.contains("empty")), Some(true));
        let err = Params::parse(Some("x=1"), &[]).err();
        assert_eq!(
            err.map(|e| e.message.contains("takes no parameters")),
            Some(true)
        );
    }

    #[test]
    fn integers_are_bounded() -> Result<(), ApiError> {
        let params = Params::parse(Some("limit=1001&depth=abc&n=7"), &["limit", "depth", "n"])?;
        assert!(params.int("limit", 1..=1000).is_err());
        assert!(params.int("depth", 1..=100).is_err());
        assert_eq!(params.int("n", 1..=10)?, Some(7));
        assert_eq!(params.int("missing", 1..=10).ok(), Some(None));
        Ok(())
    }

    #[test]
    fn overlong_queries_are_refused() {
        let long = format!("a={}", "x".repeat(MAX_QUERY_BYTES));
        assert!(Params::parse(Some(&long), &["a"]).is_err());
    }

    #[test]
    fn echoed_values_are_shortened_and_cleaned() {
        assert_eq!(printable("a\nb"), "a?b");
        assert_eq!(printable(&"x".repeat(100)).chars().count(), 65);
    }
}
