//! The NATS subjects of a cluster, all under `cluster.subject_prefix`.
//!
//! Stream ids may contain `.`, which separates NATS subject tokens: in a subject it is
//! written `~` (a character ids never have), so every stream is exactly one token.

/// The subject names of one cluster.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Self {
        Subjects { prefix: prefix.to_string() }
    }

    /// A stream id as one subject token.
    pub fn token(id: &str) -> String {
        id.replace('.', "~")
    }

    /// The stream id a subject token names.
    pub fn id_of(token: &str) -> String {
        token.replace('~', ".")
    }

    /// Frame groups of a stream (origin → edges).
    pub fn frames(&self, id: &str) -> String {
        format!("{}.stream.{}.frames", self.prefix, Self::token(id))
    }

    /// Control notices of a stream, JSON (origin → edges).
    pub fn control(&self, id: &str) -> String {
        format!("{}.stream.{}.control", self.prefix, Self::token(id))
    }

    /// Backlog requests of a stream (edge → origin, answered from the origin's ring).
    pub fn backlog(&self, id: &str) -> String {
        format!("{}.stream.{}.backlog", self.prefix, Self::token(id))
    }

    /// Every stream's backlog subject (what an origin subscribes to).
    pub fn backlog_all(&self) -> String {
        format!("{}.stream.*.backlog", self.prefix)
    }

    /// "Who has stream X?" (edge → origins; only an origin that has it answers).
    pub fn discover(&self) -> String {
        format!("{}.discover", self.prefix)
    }

    /// "Which streams are there?" (any node → origins; every origin answers).
    pub fn streams(&self) -> String {
        format!("{}.streams", self.prefix)
    }

    /// Heartbeats of every node, once a second.
    pub fn nodes(&self) -> String {
        format!("{}.nodes", self.prefix)
    }

    /// The stream id of a `<prefix>.stream.<token>.<kind>` subject.
    pub fn stream_of(&self, subject: &str) -> Option<String> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".stream.")?;
        let (token, _) = rest.split_once('.')?;
        Some(Self::id_of(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_dots_are_one_token() {
        let s = Subjects::new("ondes.eu");
        assert_eq!(s.frames("radio.1"), "ondes.eu.stream.radio~1.frames");
        assert_eq!(s.stream_of(&s.backlog("radio.1")), Some("radio.1".to_string()));
        assert_eq!(s.stream_of("other.stream.x.frames"), None);
    }
}
