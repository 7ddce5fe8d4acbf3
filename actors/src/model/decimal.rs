//! Exact fixed-point decimals for prices and quantities.
//!
//! Every price and quantity is an `i128` count of `10^-12` units, parsed from the venue's
//! decimal string without ever passing through a float. Twelve places cover every venue we
//! collect from (Binance uses 8), and `i128` leaves room for a whole day of volume of the
//! most heavily traded low-priced tokens (around `10^15` units a day, `10^27` raw units)
//! with eleven orders of magnitude to spare.
//!
//! [`Price`] and [`Qty`] are distinct types so that a price can never be added to a size.
//! Both print as the shortest exact decimal string (`"16578.5"`, `"0.001"`).

use std::cmp::Ordering;
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

/// Number of decimal places every exact value carries.
pub const SCALE: u32 = 12;

/// Raw units in one whole unit (`10^SCALE`).
pub const UNITS_PER_ONE: i128 = 1_000_000_000_000;

/// Longest decimal string accepted, in bytes. Longer input is rejected before any digit is
/// read, so hostile input cannot make parsing slow.
pub const MAX_DECIMAL_LEN: usize = 64;

/// Why a decimal string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The string was empty.
    #[error("empty decimal")]
    Empty,
    /// The string was longer than [`MAX_DECIMAL_LEN`].
    #[error("decimal of {len} bytes is longer than the {MAX_DECIMAL_LEN} byte limit")]
    TooLong {
        /// Length of the rejected string.
        len: usize,
    },
    /// A byte that is not part of a plain decimal (`-`, digits, one `.`).
    #[error("invalid character at byte {position}")]
    InvalidCharacter {
        /// Zero-based byte offset of the offending character.
        position: usize,
    },
    /// Non-zero digits beyond [`SCALE`] decimal places: the value cannot be held exactly.
    #[error("more than {SCALE} significant decimal places")]
    TooPrecise,
    /// The value does not fit the fixed-point range.
    #[error("decimal out of range")]
    OutOfRange,
    /// A negative value where only non-negative values are allowed.
    #[error("negative decimal where a non-negative one is required")]
    Negative,
}

/// Parses a plain decimal string (`"-12.3400"`, `"7"`, `"0.00000001"`) into raw units.
///
/// Accepted: an optional `-`, at least one digit, optionally a `.` followed by at least one
/// digit. Digits past [`SCALE`] places must be zeros. Exponents, `+`, whitespace and
/// leading or trailing dots are rejected.
pub fn parse_units(text: &str) -> Result<i128, DecimalError> {
    let bytes = text.as_bytes();
    if let Some(units) = parse_short_unsigned(bytes) {
        return Ok(units);
    }
    if bytes.is_empty() {
        return Err(DecimalError::Empty);
    }
    if bytes.len() > MAX_DECIMAL_LEN {
        return Err(DecimalError::TooLong { len: bytes.len() });
    }
    let (negative, digits_start) = match bytes[0] {
        b'-' => (true, 1),
        _ => (false, 0),
    };
    let mut units: u128 = 0;
    let mut fraction_digits: u32 = 0;
    let mut seen_dot = false;
    let mut digits_before_dot = 0usize;
    let mut digits_after_dot = 0usize;
    for (position, &byte) in bytes.iter().enumerate().skip(digits_start) {
        match byte {
            b'0'..=b'9' => {
                let digit = u128::from(byte - b'0');
                if seen_dot {
                    digits_after_dot += 1;
                    if fraction_digits == SCALE {
                        if digit != 0 {
                            return Err(DecimalError::TooPrecise);
                        }
                        continue;
                    }
                    fraction_digits += 1;
                } else {
                    digits_before_dot += 1;
                }
                units = units
                    .checked_mul(10)
                    .and_then(|u| u.checked_add(digit))
                    .ok_or(DecimalError::OutOfRange)?;
            }
            b'.' if !seen_dot && digits_before_dot > 0 => seen_dot = true,
            _ => return Err(DecimalError::InvalidCharacter { position }),
        }
    }
    if digits_before_dot == 0 {
        return Err(if bytes.len() == digits_start {
            DecimalError::Empty
        } else {
            DecimalError::InvalidCharacter {
                position: digits_start,
            }
        });
    }
    if seen_dot && digits_after_dot == 0 {
        return Err(DecimalError::InvalidCharacter {
            position: bytes.len() - 1,
        });
    }
    let scale = 10u128.pow(SCALE - fraction_digits);
    let magnitude = units.checked_mul(scale).ok_or(DecimalError::OutOfRange)?;
    let magnitude = i128::try_from(magnitude).map_err(|_| DecimalError::OutOfRange)?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Powers of ten up to `10^SCALE`.
const POW10: [i128; SCALE as usize + 1] = {
    let mut table = [1i128; SCALE as usize + 1];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// The fast path for what venues send almost always: an unsigned decimal of at most 19
/// bytes, so both parts fit a `u64`. Returns `None` for anything else, which the general
/// parser then accepts or rejects with the precise error.
fn parse_short_unsigned(bytes: &[u8]) -> Option<i128> {
    if bytes.len() > 19 {
        return None;
    }
    let mut index = 0;
    let mut whole: u64 = 0;
    while let Some(&byte) = bytes.get(index).filter(|b| b.is_ascii_digit()) {
        whole = whole * 10 + u64::from(byte - b'0');
        index += 1;
    }
    if index == 0 {
        return None;
    }
    if index == bytes.len() {
        return Some(i128::from(whole) * UNITS_PER_ONE);
    }
    if bytes[index] != b'.' {
        return None;
    }
    index += 1;
    let fraction_start = index;
    let mut fraction: u64 = 0;
    while let Some(&byte) = bytes.get(index).filter(|b| b.is_ascii_digit()) {
        fraction = fraction * 10 + u64::from(byte - b'0');
        index += 1;
    }
    let fraction_digits = index - fraction_start;
    if index != bytes.len() || fraction_digits == 0 || fraction_digits > SCALE as usize {
        return None;
    }
    Some(
        i128::from(whole) * UNITS_PER_ONE
            + i128::from(fraction) * POW10[SCALE as usize - fraction_digits],
    )
}

/// Writes raw units as the shortest exact decimal string.
pub fn write_units(units: i128, out: &mut impl fmt::Write) -> fmt::Result {
    let magnitude = units.unsigned_abs();
    let one = UNITS_PER_ONE as u128;
    let whole = magnitude / one;
    let mut fraction = magnitude % one;
    if units < 0 {
        out.write_char('-')?;
    }
    write!(out, "{whole}")?;
    if fraction != 0 {
        let mut width = SCALE as usize;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            width -= 1;
        }
        write!(out, ".{fraction:0width$}")?;
    }
    Ok(())
}

/// Compares `a * b` with `c * d` exactly, for non-negative factors, without overflow.
///
/// Ratio tests such as "ask volume is at least 3.5 times the bid volume" become
/// `ask * UNITS_PER_ONE >= ratio * bid`, and these products can exceed `i128`.
pub fn cmp_products(a: u128, b: u128, c: u128, d: u128) -> Ordering {
    widening_mul(a, b).cmp(&widening_mul(c, d))
}

/// Returns the 256-bit product of two `u128` as `(high, low)`.
fn widening_mul(a: u128, b: u128) -> (u128, u128) {
    const HALF: u32 = 64;
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> HALF, a & MASK);
    let (b_hi, b_lo) = (b >> HALF, b & MASK);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let cross = (lo_lo >> HALF) + (hi_lo & MASK) + (lo_hi & MASK);
    let low = (cross << HALF) | (lo_lo & MASK);
    let high = hi_hi + (hi_lo >> HALF) + (lo_hi >> HALF) + (cross >> HALF);
    (high, low)
}

macro_rules! fixed_point {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i128);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);
            /// The smallest representable positive step (`10^-SCALE`).
            pub const EPSILON: Self = Self(1);

            /// Builds a value from raw `10^-SCALE` units.
            pub const fn from_units(units: i128) -> Self {
                Self(units)
            }

            /// Builds a value from a whole number.
            pub const fn from_int(whole: i64) -> Self {
                Self(whole as i128 * UNITS_PER_ONE)
            }

            /// Returns the raw `10^-SCALE` units.
            pub const fn units(self) -> i128 {
                self.0
            }

            /// Parses a decimal string, rejecting negative values.
            pub fn parse_non_negative(text: &str) -> Result<Self, DecimalError> {
                let units = parse_units(text)?;
                if units < 0 {
                    return Err(DecimalError::Negative);
                }
                Ok(Self(units))
            }

            /// Returns true for zero.
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// Returns true for values above zero.
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }

            /// Returns true for values below zero.
            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }

            /// Returns the absolute value.
            pub const fn abs(self) -> Self {
                Self(self.0.abs())
            }

            /// Adds, returning `None` on overflow.
            pub const fn checked_add(self, other: Self) -> Option<Self> {
                match self.0.checked_add(other.0) {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// Subtracts, returning `None` on overflow.
            pub const fn checked_sub(self, other: Self) -> Option<Self> {
                match self.0.checked_sub(other.0) {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// Multiplies by a whole number, returning `None` on overflow.
            pub const fn checked_mul_int(self, factor: i128) -> Option<Self> {
                match self.0.checked_mul(factor) {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// Returns `floor(self / step)` for a positive `step`, or `None` if `step` is not
            /// positive.
            pub const fn div_floor(self, step: Self) -> Option<i128> {
                if step.0 <= 0 {
                    return None;
                }
                Some(self.0.div_euclid(step.0))
            }

            /// Returns true if `self` is a whole multiple of a positive `step`.
            pub const fn is_multiple_of(self, step: Self) -> bool {
                step.0 > 0 && self.0 % step.0 == 0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_units(self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                write_units(self.0, f)?;
                f.write_str(")")
            }
        }

        impl FromStr for $name {
            type Err = DecimalError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_units(text).map(Self)
            }
        }

        impl Add for $name {
            type Output = Self;

            /// Adds; panics on overflow in debug builds like any integer. Callers on
            /// external input use [`Self::checked_add`].
            fn add(self, other: Self) -> Self {
                Self(self.0 + other.0)
            }
        }

        impl Sub for $name {
            type Output = Self;

            fn sub(self, other: Self) -> Self {
                Self(self.0 - other.0)
            }
        }

        impl Neg for $name {
            type Output = Self;

            fn neg(self) -> Self {
                Self(-self.0)
            }
        }

        impl AddAssign for $name {
            fn add_assign(&mut self, other: Self) {
                self.0 += other.0;
            }
        }

        impl SubAssign for $name {
            fn sub_assign(&mut self, other: Self) {
                self.0 -= other.0;
            }
        }

        impl Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold(Self::ZERO, Add::add)
            }
        }

        impl<'a> Sum<&'a $name> for $name {
            fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
                iter.copied().sum()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(DecimalVisitor).map(Self)
            }
        }
    };
}

fixed_point! {
    /// An exact price in the quote currency.
    ///
    /// ```
    /// use wadm_actors::model::Price;
    /// let p: Price = "16578.50".parse().unwrap();
    /// assert_eq!(p.to_string(), "16578.5");
    /// ```
    Price
}

fixed_point! {
    /// An exact amount of an asset: a trade size, a book level size, or a volume. Signed, so
    /// that a delta (buy volume minus sell volume) is a `Qty` too.
    Qty
}

fixed_point! {
    /// An exact dimensionless ratio: a value-area share (`0.7`), an imbalance ratio (`3`), a
    /// book imbalance (`-0.25`).
    Ratio
}

impl Ratio {
    /// Returns true if `a >= self * b` for non-negative `a` and `b` (exactly, without overflow).
    pub fn at_least_times(self, a: Qty, b: Qty) -> bool {
        let (a, b) = (a.units().max(0) as u128, b.units().max(0) as u128);
        cmp_products(a, UNITS_PER_ONE as u128, self.units().max(0) as u128, b) != Ordering::Less
    }

    /// Returns `numerator / denominator` truncated toward zero to 12 places, or `None` when the
    /// denominator is zero or the result would not fit.
    pub fn of(numerator: Qty, denominator: Qty) -> Option<Ratio> {
        if denominator.is_zero() {
            return None;
        }
        numerator
            .units()
            .checked_mul(UNITS_PER_ONE)
            .map(|scaled| Ratio::from_units(scaled / denominator.units()))
    }
}

/// Accepts decimal strings and whole numbers; rejects floats, which cannot be exact.
struct DecimalVisitor;

impl serde::de::Visitor<'_> for DecimalVisitor {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal string such as \"0.01\" or a whole number")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<i128, E> {
        parse_units(text).map_err(|err| E::custom(format_args!("invalid decimal {text:?}: {err}")))
    }

    fn visit_i64<E: serde::de::Error>(self, whole: i64) -> Result<i128, E> {
        i128::from(whole)
            .checked_mul(UNITS_PER_ONE)
            .ok_or_else(|| E::custom("decimal out of range"))
    }

    fn visit_u64<E: serde::de::Error>(self, whole: u64) -> Result<i128, E> {
        i128::from(whole)
            .checked_mul(UNITS_PER_ONE)
            .ok_or_else(|| E::custom("decimal out of range"))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<i128, E> {
        Err(E::custom(format_args!(
            "write decimals as strings (\"{value}\"), so they stay exact"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn units(text: &str) -> i128 {
        parse_units(text).unwrap()
    }

    #[test]
    fn parses_plain_decimals_exactly() {
        let cases: &[(&str, i128)] = &[
            ("0", 0),
            ("7", 7 * UNITS_PER_ONE),
            ("16578.50", 16_578_500_000_000_000),
            ("0.00000001", 10_000),
            ("0.000000000001", 1),
            ("-12.5", -12_500_000_000_000),
            ("000123.4500", 123_450_000_000_000),
            ("0.100000000000000000", 100_000_000_000),
        ];
        for &(text, expected) in cases {
            assert_eq!(units(text), expected, "{text}");
        }
    }

    #[test]
    fn rejects_malformed_and_inexact_decimals() {
        use DecimalError::*;
        let long = "1".repeat(MAX_DECIMAL_LEN + 1);
        let cases: &[(&str, DecimalError)] = &[
            ("", Empty),
            ("-", Empty),
            (".5", InvalidCharacter { position: 0 }),
            ("5.", InvalidCharacter { position: 1 }),
            ("1.2.3", InvalidCharacter { position: 3 }),
            ("1e5", InvalidCharacter { position: 1 }),
            ("+1", InvalidCharacter { position: 0 }),
            (" 1", InvalidCharacter { position: 0 }),
            ("1 ", InvalidCharacter { position: 1 }),
            ("--1", InvalidCharacter { position: 1 }),
            ("NaN", InvalidCharacter { position: 0 }),
            ("0.0000000000001", TooPrecise),
            ("170141183460469231731687304", OutOfRange),
            (
                &long,
                TooLong {
                    len: MAX_DECIMAL_LEN + 1,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_units(text), Err(*expected), "{text:?}");
        }
    }

    #[test]
    fn accepts_the_largest_whole_value_and_rejects_one_more() {
        let max_whole = i128::MAX / UNITS_PER_ONE;
        assert_eq!(units(&max_whole.to_string()), max_whole * UNITS_PER_ONE);
        assert_eq!(
            parse_units(&(max_whole + 1).to_string()),
            Err(DecimalError::OutOfRange)
        );
    }

    #[test]
    fn prints_the_shortest_exact_form() {
        let cases: &[(i128, &str)] = &[
            (0, "0"),
            (1, "0.000000000001"),
            (16_578_500_000_000_000, "16578.5"),
            (-12_500_000_000_000, "-12.5"),
            (100 * UNITS_PER_ONE, "100"),
            (i128::MIN, "-170141183460469231731687303.715884105728"),
        ];
        for &(value, expected) in cases {
            assert_eq!(Price::from_units(value).to_string(), expected);
        }
    }

    #[test]
    fn non_negative_parsing_rejects_negatives() {
        assert_eq!(Qty::parse_non_negative("-0.1"), Err(DecimalError::Negative));
        assert_eq!(Qty::parse_non_negative("-0"), Ok(Qty::ZERO));
    }

    #[test]
    fn floors_toward_negative_infinity_on_the_row_grid() {
        let row: Price = "0.5".parse().unwrap();
        let cases = [
            ("1.24", 2),
            ("1.5", 3),
            ("0", 0),
            ("-0.1", -1),
            ("-0.5", -1),
        ];
        for (price, expected) in cases {
            let price: Price = price.parse().unwrap();
            assert_eq!(price.div_floor(row), Some(expected), "{price}");
        }
        assert_eq!(Price::from_int(1).div_floor(Price::ZERO), None);
        assert!(Price::from_int(10).is_multiple_of("0.01".parse().unwrap()));
        assert!(!Price::from_int(10).is_multiple_of("0.3".parse().unwrap()));
    }

    #[test]
    fn serde_round_trips_as_strings_and_refuses_floats() {
        let qty: Qty = "0.25".parse().unwrap();
        let json = serde_json::to_string(&qty).unwrap();
        assert_eq!(json, "\"0.25\"");
        assert_eq!(serde_json::from_str::<Qty>(&json).unwrap(), qty);
        assert_eq!(serde_json::from_str::<Qty>("3").unwrap(), Qty::from_int(3));
        let err = serde_json::from_str::<Qty>("0.25").unwrap_err().to_string();
        assert!(err.contains("write decimals as strings"), "{err}");
    }

    #[test]
    fn ratios_compare_exactly_and_divide_toward_zero() {
        let three: Ratio = "3".parse().unwrap();
        assert!(three.at_least_times(Qty::from_int(3), Qty::from_int(1)));
        assert!(!three.at_least_times("2.999999999999".parse().unwrap(), Qty::from_int(1)));
        assert!(
            three.at_least_times(Qty::from_int(1), Qty::ZERO),
            "anything is at least 3 x 0"
        );
        let huge = Qty::from_units(i128::MAX / 2);
        assert!(Ratio::from_int(1).at_least_times(huge, huge), "no overflow");
        assert_eq!(
            Ratio::of(Qty::from_int(1), Qty::from_int(3))
                .unwrap()
                .to_string(),
            "0.333333333333"
        );
        assert_eq!(
            Ratio::of(Qty::from_int(-1), Qty::from_int(4))
                .unwrap()
                .to_string(),
            "-0.25"
        );
        assert_eq!(Ratio::of(Qty::from_int(1), Qty::ZERO), None);
    }

    #[test]
    fn compares_products_beyond_i128() {
        let big = u128::MAX / 3;
        assert_eq!(cmp_products(big, 6, big, 5), Ordering::Greater);
        assert_eq!(cmp_products(big, 3, 3, big), Ordering::Equal);
        assert_eq!(cmp_products(0, big, 1, 0), Ordering::Equal);
        assert_eq!(
            cmp_products(u128::MAX, u128::MAX, u128::MAX, u128::MAX - 1),
            Ordering::Greater
        );
    }

    proptest! {
        #[test]
        fn display_then_parse_is_the_identity(raw in any::<i128>()) {
            let price = Price::from_units(raw);
            prop_assert_eq!(price.to_string().parse::<Price>().unwrap(), price);
        }

        #[test]
        fn widening_product_matches_u128_when_it_fits(a in any::<u64>(), b in any::<u64>(), c in any::<u64>(), d in any::<u64>()) {
            let (a, b, c, d) = (u128::from(a), u128::from(b), u128::from(c), u128::from(d));
            prop_assert_eq!(cmp_products(a, b, c, d), (a * b).cmp(&(c * d)));
        }

        #[test]
        fn the_fast_path_agrees_with_the_general_parser(whole in 0u64..10_000_000_000, fraction in "[0-9]{0,13}") {
            let text = if fraction.is_empty() { whole.to_string() } else { format!("{whole}.{fraction}") };
            let expected = {
                // Reference: whole * 10^12 + fraction scaled, computed without the fast path.
                let digits = fraction.len().min(SCALE as usize);
                let kept: i128 = if digits == 0 { 0 } else { fraction[..digits].parse().unwrap() };
                let dropped_nonzero = fraction.len() > SCALE as usize && fraction[SCALE as usize..].bytes().any(|b| b != b'0');
                (!dropped_nonzero).then(|| i128::from(whole) * UNITS_PER_ONE + kept * POW10[SCALE as usize - digits])
            };
            prop_assert_eq!(parse_units(&text).ok(), expected);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,80}") {
            let _ = parse_units(&text);
        }
    }
}
