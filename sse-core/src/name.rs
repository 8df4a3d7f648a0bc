//! The names the service goes by: client ids and topics, validated once.

use std::{fmt, sync::Arc};

use crate::NameError;

const MAX_NAME_LEN: usize = 128;

fn is_valid_name(value: &str, allow_comma: bool) -> bool {
    (1..=MAX_NAME_LEN).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && (allow_comma || b != b','))
}

/// A client's id: 1 to 128 visible ASCII characters.
///
/// Generated (a random UUID) unless the application gives one: a [`Principal`](crate::Principal) it
/// authenticated, or an id it chose to take from the request.
///
/// # Examples
///
/// ```
/// use sse_core::ClientId;
///
/// assert_eq!(ClientId::new("alice").unwrap().as_str(), "alice");
/// assert!(ClientId::new("two words").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// Validates `value` as a client id.
    ///
    /// # Errors
    ///
    /// [`NameError::ClientId`] if it is empty, longer than 128 bytes, or holds
    /// anything but visible ASCII.
    pub fn new(value: &str) -> Result<Self, NameError> {
        if is_valid_name(value, true) {
            Ok(ClientId(value.into()))
        } else {
            Err(NameError::ClientId)
        }
    }

    /// A fresh random id (a UUID v4).
    pub fn generate() -> Self {
        ClientId(uuid::Uuid::new_v4().to_string().into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A topic name: 1 to 128 visible ASCII characters, without commas (so a list of
/// topics can be written `a,b`).
///
/// # Examples
///
/// ```
/// use sse_core::Topic;
///
/// assert!(Topic::new("room:lobby").is_ok());
/// assert!(Topic::new("a,b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl Topic {
    /// Validates `value` as a topic name.
    ///
    /// # Errors
    ///
    /// [`NameError::Topic`] if it is empty, longer than 128 bytes, holds a comma or
    /// anything but visible ASCII.
    pub fn new(value: &str) -> Result<Self, NameError> {
        if is_valid_name(value, false) {
            Ok(Topic(value.into()))
        } else {
            Err(NameError::Topic)
        }
    }

    /// Parses a comma-separated list (`a,b,c`); empty items are skipped.
    ///
    /// # Errors
    ///
    /// [`NameError::Topic`] if any item is invalid.
    pub fn parse_list(list: &str) -> Result<Vec<Topic>, NameError> {
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(Topic::new)
            .collect()
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
