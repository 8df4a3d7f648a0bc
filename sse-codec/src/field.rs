//! Validated field values: once built, they cannot break the line they are written on.

use std::fmt;

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
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(Box<str>);

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
        Ok(EventType(value.into_boxed_str()))
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
