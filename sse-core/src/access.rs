//! Who a connection is and what it may read: [`Principal`], [`TopicGrants`] and the
//! [`TopicPattern`]s they are made of.

use std::{fmt, sync::Arc};

use crate::{ClientId, NameError, Rejection, Topic};

/// A pattern over topic names: the name itself, or with `*` standing for any run of
/// characters (`room:*`, `private:alice`, `*`).
///
/// # Examples
///
/// ```
/// use sse_core::{Topic, TopicPattern};
///
/// let rooms = TopicPattern::new("room:*").unwrap();
/// assert!(rooms.matches(&Topic::new("room:rust").unwrap()));
/// assert!(!rooms.matches(&Topic::new("private:alice").unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicPattern(Arc<str>);

impl TopicPattern {
    /// Validates `pattern`: the rules of a [`Topic`] name, where `*` is a wildcard.
    ///
    /// # Errors
    ///
    /// [`NameError::Topic`] if it is not a valid topic name.
    pub fn new(pattern: &str) -> Result<Self, NameError> {
        Topic::new(pattern).map(|t| TopicPattern(t.as_str().into()))
    }

    /// The pattern `*`, matching every topic.
    pub fn any() -> Self {
        TopicPattern("*".into())
    }

    /// Whether `topic` matches.
    pub fn matches(&self, topic: &Topic) -> bool {
        wildcard_match(self.0.as_bytes(), topic.as_str().as_bytes())
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `*` matches any run of bytes; linear in practice: on a mismatch only the last star
/// is retried, one byte further on.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The topics a connection may subscribe to: patterns, and exact topics; a topic
/// allowed by neither is refused (`Forbidden`), at connect and in a live subscription, and
/// is never replayed to it.
///
/// A topic built from a value that is not yours to choose (a user's id, say) belongs
/// in [`with_topic`](Self::with_topic), not in a pattern: a `*` in it would be a
/// wildcard (`private:*` for a user named `*`).
///
/// # Examples
///
/// ```
/// use sse_core::{Topic, TopicGrants};
///
/// let user = "alice";
/// let grants = TopicGrants::patterns(["room:*"])
///     .unwrap()
///     .with_topic(Topic::new(&format!("private:{user}")).unwrap());
/// assert!(grants.allows(&Topic::new("room:lobby").unwrap()));
/// assert!(grants.allows(&Topic::new("private:alice").unwrap()));
/// assert!(!grants.allows(&Topic::new("private:bob").unwrap()));
/// assert!(!TopicGrants::none().allows(&Topic::new("news").unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicGrants {
    patterns: Arc<[TopicPattern]>,
    topics: Arc<[Topic]>,
}

impl TopicGrants {
    /// No topic: broadcasts and direct messages only.
    pub fn none() -> Self {
        TopicGrants {
            patterns: Arc::new([]),
            topics: Arc::new([]),
        }
    }

    /// Every topic.
    pub fn all() -> Self {
        Self::from(vec![TopicPattern::any()])
    }

    /// The topics matching any of `patterns`.
    ///
    /// # Errors
    ///
    /// [`NameError::Topic`] if a pattern is not a valid topic name.
    pub fn patterns<I, S>(patterns: I) -> Result<Self, NameError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns = patterns
            .into_iter()
            .map(|p| TopicPattern::new(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from(patterns))
    }

    /// These grants and `topic` itself, matched exactly (a `*` in it is a `*`).
    #[must_use]
    pub fn with_topic(self, topic: Topic) -> Self {
        let mut topics = self.topics.to_vec();
        topics.push(topic);
        TopicGrants {
            patterns: self.patterns,
            topics: topics.into(),
        }
    }

    /// Whether `topic` may be subscribed to.
    pub fn allows(&self, topic: &Topic) -> bool {
        self.topics.contains(topic) || self.patterns.iter().any(|p| p.matches(topic))
    }

    /// Refuses (`Forbidden`, naming it) the first of `topics` not allowed.
    pub(crate) fn check(&self, topics: &[Topic]) -> Result<(), Rejection> {
        match topics.iter().find(|t| !self.allows(t)) {
            Some(topic) => Err(Rejection::forbidden(format!(
                "not allowed to subscribe to {topic}"
            ))),
            None => Ok(()),
        }
    }

    /// The patterns.
    pub fn patterns_granted(&self) -> &[TopicPattern] {
        &self.patterns
    }

    /// The exact topics.
    pub fn topics_granted(&self) -> &[Topic] {
        &self.topics
    }

    /// Whether no topic at all is allowed.
    pub fn is_none(&self) -> bool {
        self.patterns.is_empty() && self.topics.is_empty()
    }
}

impl From<Vec<TopicPattern>> for TopicGrants {
    fn from(patterns: Vec<TopicPattern>) -> Self {
        TopicGrants {
            patterns: patterns.into(),
            topics: Arc::new([]),
        }
    }
}

/// Who a connection is, as the application established it (a verified token, a
/// session, its own authentication middleware): the client id it is known by, and the
/// topics it may subscribe to.
///
/// A client id that merely comes from the request (a header, a query parameter) is
/// not a principal: anyone can send any value. See the `sse-http` crate for building one
/// from a request.
///
/// # Examples
///
/// ```
/// use sse_core::{ClientId, ConnectRequest, Principal, RejectionKind, Service, TopicGrants};
///
/// let alice = Principal::new(
///     ClientId::new("alice").unwrap(),
///     TopicGrants::patterns(["room:*", "private:alice"]).unwrap(),
/// );
/// let service = Service::new();
/// let ok = service.connect(ConnectRequest::new().principal(alice.clone()).topics(["private:alice"]));
/// assert!(ok.is_ok());
/// let err = service
///     .connect(ConnectRequest::new().principal(alice).topics(["private:bob"]))
///     .unwrap_err();
/// assert_eq!(err.rejection().unwrap().kind(), RejectionKind::Forbidden);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    id: ClientId,
    topics: TopicGrants,
}

impl Principal {
    /// The principal `id`, allowed the topics in `topics`.
    pub fn new(id: ClientId, topics: TopicGrants) -> Self {
        Principal { id, topics }
    }

    /// The client id.
    pub fn id(&self) -> &ClientId {
        &self.id
    }

    /// The topics it may subscribe to.
    pub fn topics(&self) -> &TopicGrants {
        &self.topics
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        wildcard_match(pattern.as_bytes(), text.as_bytes())
    }

    #[test]
    fn an_exact_topic_is_no_pattern() {
        let star = Topic::new("private:*").unwrap();
        let grants = TopicGrants::none().with_topic(star.clone());
        assert!(grants.allows(&star));
        assert!(!grants.allows(&Topic::new("private:bob").unwrap()));
        assert!(!grants.is_none() && TopicGrants::none().is_none());
    }

    #[test]
    fn wildcards() {
        assert!(m("*", "anything"));
        assert!(m("room:*", "room:"));
        assert!(m("room:*", "room:rust"));
        assert!(!m("room:*", "roo"));
        assert!(!m("room:*", "xroom:a"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abcbc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("private:alice", "private:alice"));
        assert!(!m("private:alice", "private:alice2"));
        assert!(!m("private:alice", "private:alic"));
        assert!(m("**", ""));
        assert!(!m("", "a"));
    }

    /// The matcher agrees with the plain recursive definition.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|i| reference(rest, &text[i..])),
            Some((&c, rest)) => text.first() == Some(&c) && reference(rest, &text[1..]),
        }
    }

    proptest! {
        #[test]
        fn matches_like_the_reference(pattern in "[ab*]{0,8}", text in "[ab]{0,10}") {
            prop_assert_eq!(
                wildcard_match(pattern.as_bytes(), text.as_bytes()),
                reference(pattern.as_bytes(), text.as_bytes())
            );
        }
    }
}
