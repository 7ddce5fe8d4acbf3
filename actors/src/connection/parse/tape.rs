//! simd-json tape decoding with reused buffers, and typed field access over the tape.
//!
//! Each frame is copied once into a padded buffer the parser owns (simd-json decodes in
//! place), decoded into a tape whose allocation is reused frame after frame, and read by
//! key. Strings borrow from the buffer, so reading a frame allocates nothing beyond the
//! event it produces.

use std::fmt;

use simd_json::prelude::*;
use simd_json::tape::{Array, Value};
use simd_json::{Buffers, Tape};

use super::fields;
use super::frame::{FrameKind, ParseError};
use crate::model::{Level, Price, Qty};

/// Reusable decoding state: the padded input copy, simd-json's buffers and the tape.
pub(crate) struct TapeDecoder {
    input: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    max_frame_bytes: usize,
}

impl fmt::Debug for TapeDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapeDecoder")
            .field("input_capacity", &self.input.capacity())
            .field("max_frame_bytes", &self.max_frame_bytes)
            .finish_non_exhaustive()
    }
}

impl TapeDecoder {
    /// Creates a decoder that rejects frames over `max_frame_bytes`.
    pub(crate) fn new(max_frame_bytes: usize) -> Self {
        Self {
            input: Vec::with_capacity(4096),
            buffers: Buffers::new(4096),
            tape: Some(Tape::null()),
            max_frame_bytes,
        }
    }

    /// Decodes `frame` and hands its root value to `visit`.
    pub(crate) fn decode<R>(
        &mut self,
        frame: &[u8],
        visit: impl FnOnce(Value<'_, '_>) -> Result<R, ParseError>,
    ) -> Result<R, ParseError> {
        if frame.len() > self.max_frame_bytes {
            return Err(ParseError::FrameTooLarge {
                len: frame.len(),
                max: self.max_frame_bytes,
            });
        }
        // The padding after the document may hold anything, so it is only written when the
        // buffer grows; each frame then costs one copy.
        let padded = frame.len() + simd_json::INPUT_PADDING;
        if self.input.len() < padded {
            self.input.resize(padded, b' ');
        }
        self.input[..frame.len()].copy_from_slice(frame);
        let mut tape = self.tape.take().unwrap_or_else(Tape::null).reset();
        let result = match simd_json::fill_tape_padded(
            &mut self.input,
            frame.len(),
            &mut self.buffers,
            &mut tape,
        ) {
            Ok(()) => visit(tape.as_value()),
            Err(source) => Err(ParseError::Json { source }),
        };
        self.tape = Some(tape.reset());
        result
    }
}

/// A JSON object of a known frame kind, with typed getters that name the field on error.
///
/// Hot paths read all their fields in one pass with [`pick!`](crate::connection::parse::tape::pick);
/// [`Obj::field`] looks up a single key.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'t, 'i> {
    value: Value<'t, 'i>,
    kind: FrameKind,
}

impl<'t, 'i> Obj<'t, 'i> {
    /// Views `value` as an object of `kind`; `field` names it in the error otherwise.
    pub(crate) fn new(
        value: Value<'t, 'i>,
        kind: FrameKind,
        field: &'static str,
    ) -> Result<Self, ParseError> {
        if value.is_object() {
            Ok(Self { value, kind })
        } else {
            Err(ParseError::WrongType {
                kind,
                field,
                expected: "an object",
            })
        }
    }

    /// Returns the frame kind this object belongs to.
    pub(crate) fn kind(&self) -> FrameKind {
        self.kind
    }

    /// Returns the same object, reported as another frame kind.
    pub(crate) fn as_kind(self, kind: FrameKind) -> Self {
        Self { kind, ..self }
    }

    /// Returns the tape object, to iterate over its keys and values in document order.
    pub(crate) fn object(&self) -> Option<simd_json::tape::Object<'t, 'i>> {
        self.value.as_object()
    }

    /// Looks up one field (the first, if the key is repeated).
    pub(crate) fn field(&self, name: &'static str) -> Field<'t, 'i> {
        Field::new(self.value.get(name), name, self.kind)
    }
}

/// Reads the named keys of an [`Obj`] in one pass. `let f = pick!(obj; price = "p", qty = "q");`
/// then `f.price().price()?`. As with a lookup, the first occurrence of a repeated key wins.
///
/// Only the values are stored while scanning (16 bytes each, plus a bit per key seen); the
/// [`Field`] with its name for error messages is built when a value is read.
macro_rules! pick {
    ($obj:expr; $($name:ident = $key:literal),+ $(,)?) => {{
        let obj = $obj;
        #[allow(non_camel_case_types, dead_code)]
        #[derive(Clone, Copy)]
        enum Key {
            $($name,)+
        }
        const COUNT: usize = [$(stringify!($name)),+].len();
        struct Picked<'t, 'i> {
            kind: $crate::connection::parse::frame::FrameKind,
            seen: u64,
            values: [Option<simd_json::tape::Value<'t, 'i>>; COUNT],
        }
        #[allow(dead_code)]
        impl<'t, 'i> Picked<'t, 'i> {
            $(
                fn $name(&self) -> $crate::connection::parse::tape::Field<'t, 'i> {
                    let index = Key::$name as usize;
                    $crate::connection::parse::tape::Field::picked(self.values[index], self.seen & (1 << index) != 0, $key, self.kind)
                }
            )+
        }
        let mut picked = Picked {
            kind: obj.kind(),
            seen: 0,
            values: [None; COUNT],
        };
        if let Some(object) = obj.object() {
            for (key, value) in object.iter() {
                let index = match key {
                    $($key => Key::$name as usize,)+
                    _ => continue,
                };
                let bit = 1u64 << index;
                if picked.seen & bit == 0 {
                    picked.seen |= bit;
                    picked.values[index] = Some(value);
                }
            }
        }
        picked
    }};
}
pub(crate) use pick;

/// One field of an object: its value if present, with the names used in errors.
#[derive(Clone, Copy)]
pub(crate) struct Field<'t, 'i> {
    value: Option<Value<'t, 'i>>,
    seen: bool,
    name: &'static str,
    kind: FrameKind,
}

impl<'t, 'i> Field<'t, 'i> {
    /// Creates a field; a JSON `null` counts as absent.
    pub(crate) fn new(value: Option<Value<'t, 'i>>, name: &'static str, kind: FrameKind) -> Self {
        Self {
            seen: value.is_some(),
            value: value.filter(|value| !value.is_null()),
            name,
            kind,
        }
    }

    /// Creates a field read by [`pick!`]: `seen` even when the value is a JSON `null`.
    #[inline]
    pub(crate) fn picked(
        value: Option<Value<'t, 'i>>,
        seen: bool,
        name: &'static str,
        kind: FrameKind,
    ) -> Self {
        Self {
            value: value.filter(|value| !value.is_null()),
            seen,
            name,
            kind,
        }
    }

    /// Returns true if the key is present, even with a null value.
    pub(crate) fn is_seen(&self) -> bool {
        self.seen
    }

    fn required(&self) -> Result<Value<'t, 'i>, ParseError> {
        self.value.ok_or(ParseError::MissingField {
            kind: self.kind,
            field: self.name,
        })
    }

    fn wrong(&self, expected: &'static str) -> ParseError {
        ParseError::WrongType {
            kind: self.kind,
            field: self.name,
            expected,
        }
    }

    fn optional<T>(
        &self,
        read: impl FnOnce(Value<'t, 'i>) -> Option<T>,
        expected: &'static str,
    ) -> Result<Option<T>, ParseError> {
        self.value
            .map(|value| read(value).ok_or_else(|| self.wrong(expected)))
            .transpose()
    }

    /// Returns the same field, reported as part of another frame kind.
    pub(crate) fn of_kind(self, kind: FrameKind) -> Self {
        Self { kind, ..self }
    }

    /// Returns true if the field is present and not null.
    pub(crate) fn is_present(&self) -> bool {
        self.value.is_some()
    }

    /// Returns a required string.
    pub(crate) fn str(&self) -> Result<&'i str, ParseError> {
        self.required()?
            .into_string()
            .ok_or_else(|| self.wrong("a string"))
    }

    /// Returns an optional string.
    pub(crate) fn opt_str(&self) -> Result<Option<&'i str>, ParseError> {
        self.optional(Value::into_string, "a string")
    }

    /// Returns a required unsigned integer.
    pub(crate) fn u64(&self) -> Result<u64, ParseError> {
        self.required()?
            .as_u64()
            .ok_or_else(|| self.wrong("an unsigned integer"))
    }

    /// Returns an optional unsigned integer.
    pub(crate) fn opt_u64(&self) -> Result<Option<u64>, ParseError> {
        self.optional(|value| value.as_u64(), "an unsigned integer")
    }

    /// Returns a required signed integer.
    pub(crate) fn i64(&self) -> Result<i64, ParseError> {
        self.required()?
            .as_i64()
            .ok_or_else(|| self.wrong("an integer"))
    }

    /// Returns an optional signed integer.
    pub(crate) fn opt_i64(&self) -> Result<Option<i64>, ParseError> {
        self.optional(|value| value.as_i64(), "an integer")
    }

    /// Returns a required boolean.
    pub(crate) fn bool(&self) -> Result<bool, ParseError> {
        self.required()?
            .as_bool()
            .ok_or_else(|| self.wrong("a boolean"))
    }

    /// Returns an optional boolean.
    pub(crate) fn opt_bool(&self) -> Result<Option<bool>, ParseError> {
        self.optional(|value| value.as_bool(), "a boolean")
    }

    /// Returns a required nested object of `kind`.
    pub(crate) fn obj(&self, kind: FrameKind) -> Result<Obj<'t, 'i>, ParseError> {
        Obj::new(self.required()?, kind, self.name).map_err(|_| self.wrong("an object"))
    }

    /// Returns a required array.
    pub(crate) fn array(&self) -> Result<Array<'t, 'i>, ParseError> {
        self.required()?
            .as_array()
            .ok_or_else(|| self.wrong("an array"))
    }

    /// Returns a required non-negative price.
    pub(crate) fn price(&self) -> Result<Price, ParseError> {
        fields::price(self.kind, self.name, self.str()?)
    }

    /// Returns a required price that must be above zero (a trade price).
    pub(crate) fn trade_price(&self) -> Result<Price, ParseError> {
        fields::trade_price(self.kind, self.name, self.str()?)
    }

    /// Returns a required non-negative quantity.
    pub(crate) fn qty(&self) -> Result<Qty, ParseError> {
        fields::qty(self.kind, self.name, self.str()?)
    }

    /// Returns an optional non-negative quantity.
    pub(crate) fn opt_qty(&self) -> Result<Option<Qty>, ParseError> {
        self.opt_str()?
            .map(|text| fields::qty(self.kind, self.name, text))
            .transpose()
    }

    /// Returns a required quantity that must be above zero (a trade size).
    pub(crate) fn trade_qty(&self) -> Result<Qty, ParseError> {
        fields::trade_qty(self.kind, self.name, self.str()?)
    }

    /// Returns a required array of `[price, size]` string pairs as book levels.
    pub(crate) fn levels(&self) -> Result<Vec<Level>, ParseError> {
        let array = self.array()?;
        let mut levels = Vec::with_capacity(array.len());
        for entry in array.iter() {
            let pair = entry
                .as_array()
                .ok_or_else(|| self.wrong("an array of [price, size] pairs"))?;
            let (Some(price), Some(size)) = (pair.get(0), pair.get(1)) else {
                return Err(self.wrong("an array of [price, size] pairs"));
            };
            let (Some(price), Some(size)) = (price.into_string(), size.into_string()) else {
                return Err(self.wrong("an array of [price, size] string pairs"));
            };
            levels.push(fields::level(self.kind, self.name, price, size)?);
        }
        Ok(levels)
    }
}
