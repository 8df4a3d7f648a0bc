//! Validated field values: once built, they cannot break the line they are written on.

use std::{borrow::Cow, fmt};

use crate::FieldError;

/// The `event:` field of an event: any text without CR or LF.
///
/// # Examples
///
/// ```
/// use sse_codec::EventType;
///
/// let kind = EventType::new("tick").unwrap();
/// assert_eq!(kind.as_str(), "tick");
/// assert!(EventType::new("tick\ndata: forged").is_err());
///
/// // A fixed type, checked when the program is compiled.
/// const TICK: EventType = EventType::from_static("tick");
/// assert_eq!(TICK, kind);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(Cow<'static, str>);

impl EventType {
    /// Validates `value` as an event type.
    ///
    /// # Errors
    ///
    /// [`FieldError::InvalidEventType`] if `value` contains CR or LF.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        if memchr::memchr2(b'\r', b'\n', value.as_bytes()).is_some() {
            return Err(FieldError::InvalidEventType);
        }
        Ok(EventType(Cow::Owned(value)))
    }

    /// A fixed event type, without allocating. In a `const` (the way to use it), a
    /// CR or LF in `value` fails the build.
    ///
    /// # Panics
    ///
    /// If `value` contains CR or LF (at compile time in a `const`).
    ///
    /// ```compile_fail
    /// const FORGED: sse_codec::EventType = sse_codec::EventType::from_static("a\ndata: b");
    /// ```
    pub const fn from_static(value: &'static str) -> Self {
        let bytes = value.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                bytes[i] != b'\r' && bytes[i] != b'\n',
                "an event type cannot hold CR or LF"
            );
            i += 1;
        }
        EventType(Cow::Borrowed(value))
    }

    /// The event type as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `id:` field of an event: any text without CR, LF or NUL.
///
/// Spec parsers ignore an `id` field that contains NUL, so such an id is refused here
/// rather than silently lost on the other side.
///
/// # Examples
///
/// ```
/// use sse_codec::EventId;
///
/// let id = EventId::new("42").unwrap();
/// assert_eq!(id.as_str(), "42");
/// assert!(EventId::new("4\02").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(Box<str>);

impl EventId {
    /// Validates `value` as an event id.
    ///
    /// # Errors
    ///
    /// [`FieldError::InvalidEventId`] if `value` contains CR, LF or NUL.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        let bytes = value.as_bytes();
        if memchr::memchr3(b'\r', b'\n', b'\0', bytes).is_some() {
            return Err(FieldError::InvalidEventId);
        }
        Ok(EventId(value.into_boxed_str()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<u64> for EventId {
    fn from(value: u64) -> Self {
        EventId(value.to_string().into_boxed_str())
    }
}

macro_rules! text_newtype_impls {
    ($ty:ident) => {
        impl TryFrom<&str> for $ty {
            type Error = FieldError;
            fn try_from(value: &str) -> Result<Self, FieldError> {
                $ty::new(value)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = FieldError;
            fn try_from(value: String) -> Result<Self, FieldError> {
                $ty::new(value)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = FieldError;
            fn from_str(value: &str) -> Result<Self, FieldError> {
                $ty::new(value)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_newtype_impls!(EventType);
text_newtype_impls!(EventId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_event_type_is_the_same_as_a_checked_one() {
        const TICK: EventType = EventType::from_static("tick");
        assert_eq!(TICK, EventType::new("tick").unwrap());
        assert_eq!(TICK.as_str(), "tick");
        let mut set = std::collections::HashSet::new();
        set.insert(EventType::new("tick").unwrap());
        assert!(set.contains(&TICK));
    }

    #[test]
    #[should_panic(expected = "an event type cannot hold CR or LF")]
    fn a_fixed_event_type_with_a_line_break_panics_outside_a_const() {
        let value: &'static str = if std::hint::black_box(true) {
            "a\rb"
        } else {
            "ab"
        };
        let _ = EventType::from_static(value);
    }

    #[test]
    fn event_type_rejects_line_breaks() {
        for bad in ["a\nb", "a\rb", "\r\n", "\n", "x\r"] {
            assert_eq!(
                EventType::new(bad),
                Err(FieldError::InvalidEventType),
                "{bad:?}"
            );
        }
        assert!(EventType::new("").is_ok());
        assert!(EventType::new(" spaced: colon\0nul").is_ok());
    }

    #[test]
    fn event_id_rejects_line_breaks_and_nul() {
        for bad in ["a\nb", "a\rb", "a\0b", "\0"] {
            assert_eq!(
                EventId::new(bad),
                Err(FieldError::InvalidEventId),
                "{bad:?}"
            );
        }
        assert_eq!(EventId::from(7).as_str(), "7");
        assert_eq!("x".parse::<EventId>().unwrap().to_string(), "x");
    }
}
