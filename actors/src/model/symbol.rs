//! Instrument symbols as a small `Copy` value, so routing and keying never allocate.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Longest symbol accepted, in bytes (Bybit option names such as `BTC-30DEC22-18000-C` are
/// the longest in use, at 19).
pub const MAX_SYMBOL_LEN: usize = 31;

/// An instrument name such as `BTCUSDT`: 1 to [`MAX_SYMBOL_LEN`] ASCII letters, digits,
/// `-` or `_`, stored upper-cased (Binance stream names are lower-case, its payloads
/// upper-case; both name the same instrument).
#[derive(Clone, Copy)]
pub struct Symbol {
    len: u8,
    bytes: [u8; MAX_SYMBOL_LEN],
}

/// Why a string is not a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The string was empty.
    #[error("empty symbol")]
    Empty,
    /// The string was longer than [`MAX_SYMBOL_LEN`].
    #[error("symbol of {len} bytes is longer than {MAX_SYMBOL_LEN}")]
    TooLong {
        /// Length of the rejected string.
        len: usize,
    },
    /// A character other than ASCII letters, digits, `-` and `_`.
    #[error("symbol has an invalid character at byte {position}")]
    InvalidCharacter {
        /// Zero-based byte offset of the offending character.
        position: usize,
    },
}

impl Symbol {
    /// Parses a symbol, upper-casing ASCII letters.
    pub fn new(text: &str) -> Result<Self, SymbolError> {
        let raw = text.as_bytes();
        if raw.is_empty() {
            return Err(SymbolError::Empty);
        }
        if raw.len() > MAX_SYMBOL_LEN {
            return Err(SymbolError::TooLong { len: raw.len() });
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        for (position, (&byte, slot)) in raw.iter().zip(bytes.iter_mut()).enumerate() {
            *slot = match byte {
                b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => byte,
                b'a'..=b'z' => byte.to_ascii_uppercase(),
                _ => return Err(SymbolError::InvalidCharacter { position }),
            };
        }
        Ok(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// Returns the symbol text, upper-case.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored, so this cannot fail; fall back to "" rather
        // than panic if that invariant were ever broken.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// Returns the symbol in lower case, as Binance stream names spell it.
    pub fn to_lowercase(&self) -> String {
        self.as_str().to_ascii_lowercase()
    }
}

// Equality and order compare the bytes (every byte past `len` is zero), which is what
// comparing the texts does for ASCII, without validating them as UTF-8 on every routing
// lookup. Hashing stays on the text, as `Borrow<str>` requires.
impl PartialEq for Symbol {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.bytes == other.bytes
    }
}

impl Eq for Symbol {}

impl Hash for Symbol {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Symbol {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Symbol {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bytes[..usize::from(self.len)].cmp(&other.bytes[..usize::from(other.len)])
    }
}

impl Borrow<str> for Symbol {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.as_str())
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl serde::Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Symbol {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Symbol::new(&text).map_err(|err| serde::de::Error::custom(format_args!("{text:?}: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn normalises_case_and_compares_by_text() {
        let lower = Symbol::new("btcusdt").unwrap();
        let upper = Symbol::new("BTCUSDT").unwrap();
        assert_eq!(lower, upper);
        assert_eq!(lower.as_str(), "BTCUSDT");
        assert_eq!(upper.to_lowercase(), "btcusdt");
        let set: HashSet<Symbol> = [lower, upper].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(Symbol::new("ETHUSDT").unwrap() < Symbol::new("SOLUSDT").unwrap());
        assert!(Symbol::new("BTC").unwrap() < Symbol::new("BTCUSDT").unwrap());
    }

    #[test]
    fn equality_and_order_are_those_of_the_texts() {
        let texts = [
            "BTC",
            "BTCUSDT",
            "BTC-USDT",
            "BTC_USDT",
            "BTC-30DEC22-18000-C",
            "ETHUSDT",
            "A",
            "Z9",
            "0",
            "_",
            "-",
            "BTCUSD",
            "BTCUSDC",
        ];
        for a in texts {
            for b in texts {
                let (x, y) = (Symbol::new(a).unwrap(), Symbol::new(b).unwrap());
                assert_eq!(x == y, a == b, "{a} == {b}");
                assert_eq!(x.cmp(&y), a.cmp(b), "{a} cmp {b}");
            }
        }
    }

    #[test]
    fn rejects_bad_symbols() {
        assert_eq!(Symbol::new(""), Err(SymbolError::Empty));
        assert_eq!(
            Symbol::new("BTC/USDT"),
            Err(SymbolError::InvalidCharacter { position: 3 })
        );
        assert_eq!(
            Symbol::new("ÄBC"),
            Err(SymbolError::InvalidCharacter { position: 0 })
        );
        let long = "A".repeat(MAX_SYMBOL_LEN + 1);
        assert_eq!(
            Symbol::new(&long),
            Err(SymbolError::TooLong {
                len: MAX_SYMBOL_LEN + 1
            })
        );
        assert!(Symbol::new("BTC-30DEC22-18000-C").is_ok());
        assert!(Symbol::new(&"A".repeat(MAX_SYMBOL_LEN)).is_ok());
    }
}
