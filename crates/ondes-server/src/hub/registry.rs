//! The stream registry: which streams exist now, which ids may be created on demand, and when
//! an on-demand stream whose publisher left is removed.
//!
//! Streams declared in the configuration are inserted at start and stay for the life of the
//! server. A declared `[[stream]]` whose id contains `*` is a *template*: when a publisher
//! appears on an id that matches it, the stream is created from it, and once that stream has
//! been idle (no publisher, nothing left to play) for the linger, it is removed.
//!
//! The registry is generic over what a stream is (`E`) and what a template carries (`T`),
//! so its decisions are tested here without sockets, tasks or clocks: time is an argument
//! (`now`, from any fixed origin), and [`StreamRegistry::reap`] is polled. Lookups take a
//! read lock for the time of a hash lookup and an `Arc` clone; nothing here awaits.
//!
//! Claiming a stream (a publisher taking its slot) runs under the registry's lock
//! ([`StreamRegistry::with`], [`StreamRegistry::with_or_create`]), and removal takes the
//! write lock and checks idleness again: a publisher that reconnects at the moment its
//! stream's linger runs out either finds the stream (and keeps it) or finds it gone (and
//! creates a new one), never a stream that is being removed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

/// Longest stream id, in bytes (ids are ASCII).
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a stream id. Ids are URL path segments: `[A-Za-z0-9._-]`, 1 to
/// [`MAX_ID_LEN`] characters, and not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a stream id cannot be empty")]
    Empty,
    #[error("stream id '{shown}…' is {len} characters long; ids have at most {MAX_ID_LEN}")]
    TooLong { shown: String, len: usize },
    #[error("stream id '{id}' contains {ch:?}; ids use only A-Z, a-z, 0-9, '.', '_' and '-'")]
    BadChar { id: String, ch: char },
    #[error("'{0}' cannot be a stream id (it means a directory in a URL path)")]
    Dots(String),
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Checks that `id` can name a stream.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some(ch) = id.chars().find(|c| !id_char(*c)) {
        return Err(IdError::BadChar { id: shorten(id), ch });
    }
    if id.len() > MAX_ID_LEN {
        // every character is ASCII (checked above), so any byte index is a character boundary
        return Err(IdError::TooLong { shown: id[..MAX_ID_LEN].to_string(), len: id.len() });
    }
    if id == "." || id == ".." {
        return Err(IdError::Dots(id.to_string()));
    }
    Ok(())
}

/// At most `MAX_ID_LEN` characters of a client's string, for messages.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_ID_LEN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Why a template's id is not a usable pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("'{0}' has no '*'; a template id like 'live-*' has at least one")]
    NoWildcard(String),
    #[error("'{0}': write one '*' where two are adjacent")]
    AdjacentWildcards(String),
    #[error("'{0}' is longer than {MAX_ID_LEN} characters")]
    TooLong(String),
    #[error("'{id}' contains {ch:?}; a template id uses only A-Z, a-z, 0-9, '.', '_', '-' and '*'")]
    BadChar { id: String, ch: char },
}

/// A template id such as `live-*`: `*` stands for one or more id characters; the rest is
/// literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPattern {
    text: String,
    /// The literal pieces between the `*`s (the first and last may be empty).
    pieces: Vec<String>,
}

impl IdPattern {
    /// Whether a configured id is a template (contains `*`).
    pub fn is_pattern(id: &str) -> bool {
        id.contains('*')
    }

    pub fn parse(text: &str) -> Result<IdPattern, PatternError> {
        if let Some(ch) = text.chars().find(|c| !id_char(*c) && *c != '*') {
            return Err(PatternError::BadChar { id: shorten(text), ch });
        }
        if text.len() > MAX_ID_LEN {
            return Err(PatternError::TooLong(shorten(text)));
        }
        if !Self::is_pattern(text) {
            return Err(PatternError::NoWildcard(text.to_string()));
        }
        if text.contains("**") {
            return Err(PatternError::AdjacentWildcards(text.to_string()));
        }
        Ok(IdPattern { text: text.to_string(), pieces: text.split('*').map(str::to_string).collect() })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `id` matches: the literal pieces in order, each `*` covering at least one
    /// character. (Leftmost placement of each middle piece is optimal for `*`-only globs.)
    pub fn matches(&self, id: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(x) => x,
            None => return false,
        };
        let Some((last, middle)) = rest.split_last() else { return id == first };
        let Some(mut pos) = id.strip_prefix(first.as_str()).map(|_| first.len()) else { return false };
        for piece in middle {
            // the `*` before this piece covers at least one character
            let from = pos + 1;
            let Some(found) = id.get(from..).and_then(|tail| tail.find(piece.as_str())) else { return false };
            pos = from + found + piece.len();
        }
        id.len() >= pos + 1 + last.len() && id.ends_with(last.as_str())
    }
}

impl std::fmt::Display for IdPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A template and what streams created from it are made of.
#[derive(Debug, Clone)]
pub struct Template<T> {
    pub pattern: IdPattern,
    pub config: T,
}

/// How a stream came to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Declared in the configuration: it lives as long as the server.
    Declared,
    /// Created when a publisher appeared on an id matching `template`.
    OnDemand { template: String },
}

impl Origin {
    pub fn is_on_demand(&self) -> bool {
        matches!(self, Origin::OnDemand { .. })
    }
}

/// What the registry needs to know about a stream.
pub trait RegistryEntry: Send + Sync {
    /// Whether nobody publishes into the stream and nothing is left to play. An on-demand
    /// stream idle for the whole linger is removed.
    fn is_idle(&self) -> bool;

    /// Called under the registry's write lock as the entry is removed: must be quick and
    /// must not block (e.g. mark the stream ended so that its listeners and tasks stop).
    fn removed(&self, reason: &str);

    /// How long this stream stays idle before it is removed, when not the registry's linger
    /// (a cluster edge's stream lingers `cluster.linger_ms` after its last listener).
    fn linger(&self) -> Option<Duration> {
        None
    }
}

/// Why a lookup or a creation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    BadId(#[from] IdError),
    #[error(
        "stream '{id}' is not live: streams matching '{template}' exist while a publisher feeds them; \
         publish to it first"
    )]
    NotLive { id: String, template: String },
    #[error("no stream '{id}'; streams on this server: {}{}", list(.ids), on_demand(.templates))]
    Unknown { id: String, ids: Vec<String>, templates: Vec<String> },
    #[error(
        "cannot create stream '{id}': {max} streams created on demand exist already (server.max_streams); \
         try again when one has ended"
    )]
    Full { id: String, max: usize },
    #[error("stream '{0}' exists already")]
    Exists(String),
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() { "none".into() } else { ids.join(", ") }
}

fn on_demand(templates: &[String]) -> String {
    if templates.is_empty() {
        String::new()
    } else {
        format!("; created on demand when a publisher connects: {}", templates.join(", "))
    }
}

/// A stream as listed, in creation order.
pub struct Listed<E> {
    pub id: String,
    pub origin: Origin,
    pub entry: Arc<E>,
}

struct Slot<E> {
    entry: Arc<E>,
    origin: Origin,
    order: u64,
    /// When the stream was first seen idle (on-demand streams only).
    idle_since: Option<Duration>,
}

struct Inner<E> {
    slots: HashMap<String, Slot<E>>,
    next_order: u64,
    on_demand: usize,
}

/// The streams of a server, declared and on demand.
pub struct StreamRegistry<E, T> {
    templates: Vec<Template<T>>,
    max_on_demand: usize,
    linger: Duration,
    inner: RwLock<Inner<E>>,
}

impl<E: RegistryEntry, T> StreamRegistry<E, T> {
    /// An empty registry: `templates` in the order they are tried, at most `max_on_demand`
    /// streams created from them at once, each removed after `linger` idle.
    pub fn new(templates: Vec<Template<T>>, max_on_demand: usize, linger: Duration) -> Self {
        StreamRegistry {
            templates,
            max_on_demand,
            linger,
            inner: RwLock::new(Inner { slots: HashMap::new(), next_order: 0, on_demand: 0 }),
        }
    }

    pub fn linger(&self) -> Duration {
        self.linger
    }

    pub fn max_on_demand(&self) -> usize {
        self.max_on_demand
    }

    pub fn templates(&self) -> &[Template<T>] {
        &self.templates
    }

    /// The first template `id` matches.
    pub fn template(&self, id: &str) -> Option<&Template<T>> {
        self.templates.iter().find(|t| t.pattern.matches(id))
    }

    /// Adds a stream that lives as long as the server (one declared in the configuration).
    pub fn insert_declared(&self, id: &str, entry: E) -> Result<Arc<E>, RegistryError> {
        validate_id(id)?;
        let mut inner = self.inner.write();
        if inner.slots.contains_key(id) {
            return Err(RegistryError::Exists(id.to_string()));
        }
        Ok(Self::insert(&mut inner, id, entry, Origin::Declared))
    }

    fn insert(inner: &mut Inner<E>, id: &str, entry: E, origin: Origin) -> Arc<E> {
        let entry = Arc::new(entry);
        if origin.is_on_demand() {
            inner.on_demand += 1;
        }
        let order = inner.next_order;
        inner.next_order += 1;
        inner.slots.insert(id.to_string(), Slot { entry: entry.clone(), origin, order, idle_since: None });
        entry
    }

    /// The stream `id`, or why there is none.
    pub fn get(&self, id: &str) -> Result<Arc<E>, RegistryError> {
        if let Some(s) = self.inner.read().slots.get(id) {
            return Ok(s.entry.clone());
        }
        Err(self.missing(id))
    }

    /// Whether stream `id` exists now.
    pub fn contains(&self, id: &str) -> bool {
        self.inner.read().slots.contains_key(id)
    }

    /// Why `id` has no stream: a bad id, an on-demand id that is not live, or an unknown one.
    fn missing(&self, id: &str) -> RegistryError {
        if let Err(e) = validate_id(id) {
            return e.into();
        }
        if let Some(t) = self.template(id) {
            return RegistryError::NotLive { id: id.to_string(), template: t.pattern.to_string() };
        }
        RegistryError::Unknown {
            id: id.to_string(),
            ids: self.list().into_iter().map(|l| l.id).collect(),
            templates: self.templates.iter().map(|t| t.pattern.to_string()).collect(),
        }
    }

    /// Checks that `id` names a stream or could be created on demand, without creating it.
    pub fn check_creatable(&self, id: &str) -> Result<(), RegistryError> {
        if self.contains(id) {
            return Ok(());
        }
        match self.missing(id) {
            RegistryError::NotLive { .. } => Ok(()),
            e => Err(e),
        }
    }

    /// Every stream, in creation order.
    pub fn list(&self) -> Vec<Listed<E>> {
        let inner = self.inner.read();
        let mut v: Vec<(u64, Listed<E>)> = inner
            .slots
            .iter()
            .map(|(id, s)| {
                (s.order, Listed { id: id.clone(), origin: s.origin.clone(), entry: s.entry.clone() })
            })
            .collect();
        drop(inner);
        v.sort_unstable_by_key(|(order, _)| *order);
        v.into_iter().map(|(_, l)| l).collect()
    }

    /// Streams now, and how many of them were created on demand.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.inner.read();
        (inner.slots.len(), inner.on_demand)
    }

    /// Runs `f` on stream `id` while holding the registry's read lock, so that the stream
    /// cannot be removed while `f` runs (e.g. while a publisher takes its slot). `f` must not
    /// block.
    pub fn with<R, X: From<RegistryError>>(
        &self,
        id: &str,
        f: impl FnOnce(&Arc<E>) -> Result<R, X>,
    ) -> Result<R, X> {
        {
            let inner = self.inner.read();
            if let Some(s) = inner.slots.get(id) {
                return f(&s.entry);
            }
        }
        Err(self.missing(id).into())
    }

    /// Like [`with`](Self::with), creating the stream with `make` from the template its id
    /// matches when it does not exist (at most [`max_on_demand`](Self::max_on_demand) at
    /// once). `make` and `f` run under the write lock then, and must not block.
    pub fn with_or_create<R, X: From<RegistryError>>(
        &self,
        id: &str,
        make: impl FnOnce(&str, &Template<T>) -> Result<E, X>,
        f: impl FnOnce(&Arc<E>) -> Result<R, X>,
    ) -> Result<R, X> {
        {
            let inner = self.inner.read();
            if let Some(s) = inner.slots.get(id) {
                return f(&s.entry);
            }
        }
        validate_id(id).map_err(RegistryError::from)?;
        let Some(template) = self.template(id) else { return Err(self.missing(id).into()) };
        let mut inner = self.inner.write();
        // another publisher may have created it since the read lock was released
        if let Some(s) = inner.slots.get(id) {
            return f(&s.entry);
        }
        if inner.on_demand >= self.max_on_demand {
            return Err(RegistryError::Full { id: id.to_string(), max: self.max_on_demand }.into());
        }
        let entry = make(id, template)?;
        let origin = Origin::OnDemand { template: template.pattern.to_string() };
        let entry = Self::insert(&mut inner, id, entry, origin);
        f(&entry)
    }

    /// Adds a stream created on demand by something other than a template (a cluster edge
    /// creating a stream its listener asks for: `label` says what), counted against
    /// [`max_on_demand`](Self::max_on_demand). `make` runs under the write lock and must not
    /// block. Returns the stream that exists when one was created meanwhile.
    pub fn insert_on_demand<X: From<RegistryError>>(
        &self,
        id: &str,
        label: &str,
        make: impl FnOnce() -> Result<E, X>,
    ) -> Result<Arc<E>, X> {
        validate_id(id).map_err(RegistryError::from)?;
        let mut inner = self.inner.write();
        if let Some(s) = inner.slots.get(id) {
            return Ok(s.entry.clone());
        }
        if inner.on_demand >= self.max_on_demand {
            return Err(RegistryError::Full { id: id.to_string(), max: self.max_on_demand }.into());
        }
        let entry = make()?;
        Ok(Self::insert(&mut inner, id, entry, Origin::OnDemand { template: label.to_string() }))
    }

    /// Removes stream `id` when `same` says the entry there is the one meant (not a newer
    /// stream created under the same id since).
    pub fn remove_if(&self, id: &str, same: impl FnOnce(&E) -> bool, reason: &str) -> Option<Arc<E>> {
        {
            let inner = self.inner.read();
            if !inner.slots.get(id).is_some_and(|s| same(&s.entry)) {
                return None;
            }
        }
        self.remove(id, reason)
    }

    /// Removes stream `id` whatever its origin, calling its [`RegistryEntry::removed`].
    pub fn remove(&self, id: &str, reason: &str) -> Option<Arc<E>> {
        let mut inner = self.inner.write();
        let slot = inner.slots.remove(id)?;
        if slot.origin.is_on_demand() {
            inner.on_demand -= 1;
        }
        slot.entry.removed(reason);
        Some(slot.entry)
    }

    /// Removes the on-demand streams that have been idle for the linger; returns them. Call
    /// it regularly: idleness is sampled, so a stream goes at most one period after its
    /// linger ran out. Declared streams are never removed here.
    pub fn reap(&self, now: Duration, reason: &str) -> Vec<(String, Arc<E>)> {
        let mut inner = self.inner.write();
        let mut expired = Vec::new();
        for (id, slot) in inner.slots.iter_mut() {
            if !slot.origin.is_on_demand() {
                continue;
            }
            if !slot.entry.is_idle() {
                slot.idle_since = None;
                continue;
            }
            let since = *slot.idle_since.get_or_insert(now);
            if now.saturating_sub(since) >= slot.entry.linger().unwrap_or(self.linger) {
                expired.push(id.clone());
            }
        }
        let mut removed = Vec::with_capacity(expired.len());
        for id in expired {
            if let Some(slot) = inner.slots.remove(&id) {
                inner.on_demand -= 1;
                slot.entry.removed(reason);
                removed.push((id, slot.entry));
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use parking_lot::Mutex;

    use super::*;

    #[test]
    fn ids_are_url_path_segments() {
        for ok in ["main", "live-a", "Radio_1", "a.b", "x", &"a".repeat(64)] {
            assert_eq!(validate_id(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_id(""), Err(IdError::Empty));
        assert!(matches!(validate_id("a b"), Err(IdError::BadChar { ch: ' ', .. })));
        assert!(matches!(validate_id("a/b"), Err(IdError::BadChar { ch: '/', .. })));
        assert!(matches!(validate_id("é"), Err(IdError::BadChar { ch: 'é', .. })));
        assert!(matches!(validate_id("live-*"), Err(IdError::BadChar { ch: '*', .. })));
        assert!(matches!(validate_id(&"a".repeat(65)), Err(IdError::TooLong { len: 65, .. })));
        assert_eq!(validate_id(".."), Err(IdError::Dots("..".into())));
        assert_eq!(validate_id("."), Err(IdError::Dots(".".into())));
        // a long bad id is shortened in the message
        let msg = validate_id(&format!("{} ", "a".repeat(500))).unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
    }

    #[test]
    fn patterns_match_one_or_more_characters_per_star() {
        let p = IdPattern::parse("live-*").unwrap();
        assert!(p.matches("live-a"));
        assert!(p.matches("live-a.b-c"));
        assert!(!p.matches("live-"), "a star covers at least one character");
        assert!(!p.matches("live"));
        assert!(!p.matches("xlive-a"));

        let p = IdPattern::parse("*.room").unwrap();
        assert!(p.matches("a.room"));
        assert!(!p.matches(".room"));
        assert!(!p.matches("a.rooms"));

        let p = IdPattern::parse("a*b*c").unwrap();
        assert!(p.matches("axbyc"));
        assert!(p.matches("axbbbyc"));
        assert!(p.matches("abbbc"), "the first star takes 'b', the second 'b'");
        assert!(!p.matches("abc"));
        assert!(!p.matches("axbc"));
        assert!(!p.matches("axbyd"));

        let p = IdPattern::parse("*").unwrap();
        assert!(p.matches("anything"));
        assert!(!p.matches(""));

        let p = IdPattern::parse("x-*-y").unwrap();
        assert!(p.matches("x---y"));
        assert!(!p.matches("x--y"));
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(matches!(IdPattern::parse("live"), Err(PatternError::NoWildcard(_))));
        assert!(matches!(IdPattern::parse("live-**"), Err(PatternError::AdjacentWildcards(_))));
        assert!(matches!(IdPattern::parse("live/*"), Err(PatternError::BadChar { ch: '/', .. })));
        assert!(matches!(IdPattern::parse(&format!("{}*", "a".repeat(64))), Err(PatternError::TooLong(_))));
        assert!(IdPattern::is_pattern("a*"));
        assert!(!IdPattern::is_pattern("a"));
    }

    #[derive(Default)]
    struct Fake {
        busy: AtomicBool,
        removed: Mutex<Option<String>>,
    }

    impl RegistryEntry for Fake {
        fn is_idle(&self) -> bool {
            !self.busy.load(Ordering::Relaxed)
        }
        fn removed(&self, reason: &str) {
            *self.removed.lock() = Some(reason.to_string());
        }
    }

    fn registry(max: usize, linger_s: u64) -> StreamRegistry<Fake, &'static str> {
        let templates = vec![
            Template { pattern: IdPattern::parse("live-*").unwrap(), config: "live" },
            Template { pattern: IdPattern::parse("*").unwrap(), config: "any" },
        ];
        StreamRegistry::new(templates, max, Duration::from_secs(linger_s))
    }

    /// Creates `id` on demand with a publisher (busy); returns the template config used.
    fn publish(r: &StreamRegistry<Fake, &'static str>, id: &str) -> Result<&'static str, RegistryError> {
        let mut used = None;
        r.with_or_create(
            id,
            |_, t| {
                used = Some(t.config);
                Ok::<_, RegistryError>(Fake::default())
            },
            |e| {
                e.busy.store(true, Ordering::Relaxed);
                Ok(())
            },
        )?;
        Ok(used.unwrap_or("existing"))
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn lookups_distinguish_bad_unknown_and_not_live() {
        let r: StreamRegistry<Fake, ()> = StreamRegistry::new(
            vec![Template { pattern: IdPattern::parse("live-*").unwrap(), config: () }],
            10,
            secs(10),
        );
        r.insert_declared("main", Fake::default()).unwrap();
        assert!(r.get("main").is_ok());
        assert!(matches!(r.get("a b"), Err(RegistryError::BadId(_))));
        let e = r.get("live-x").err().unwrap();
        assert!(matches!(&e, RegistryError::NotLive { template, .. } if template == "live-*"));
        assert!(e.to_string().contains("not live"), "{e}");
        let e = r.get("other").err().unwrap();
        assert!(matches!(&e, RegistryError::Unknown { ids, .. } if ids == &["main".to_string()]));
        assert!(e.to_string().contains("main") && e.to_string().contains("live-*"), "{e}");
        assert_eq!(
            r.insert_declared("main", Fake::default()).err(),
            Some(RegistryError::Exists("main".into()))
        );
        assert!(r.check_creatable("live-x").is_ok());
        assert!(r.check_creatable("main").is_ok());
        assert!(r.check_creatable("other").is_err());
    }

    #[test]
    fn the_first_matching_template_creates_and_the_limit_holds() {
        let r = registry(2, 10);
        r.insert_declared("main", Fake::default()).unwrap();
        assert_eq!(publish(&r, "live-a"), Ok("live"));
        assert_eq!(publish(&r, "b"), Ok("any"));
        assert_eq!(publish(&r, "live-a"), Ok("existing"));
        assert_eq!(publish(&r, "main"), Ok("existing"), "a declared id is never made from a template");
        assert!(matches!(publish(&r, "c"), Err(RegistryError::Full { max: 2, .. })));
        assert!(matches!(publish(&r, "bad id"), Err(RegistryError::BadId(_))));
        assert_eq!(r.counts(), (3, 2));
        let ids: Vec<String> = r.list().into_iter().map(|l| l.id).collect();
        assert_eq!(ids, ["main", "live-a", "b"], "creation order");
        assert_eq!(r.list()[1].origin, Origin::OnDemand { template: "live-*".into() });
        assert_eq!(r.list()[0].origin, Origin::Declared);
    }

    #[test]
    fn a_failed_make_creates_nothing() {
        let r = registry(2, 10);
        let res: Result<(), RegistryError> =
            r.with_or_create("live-a", |id, _| Err(RegistryError::Exists(id.into())), |_| Ok(()));
        assert!(res.is_err());
        assert_eq!(r.counts(), (0, 0));
    }

    #[test]
    fn idle_on_demand_streams_go_after_the_linger_and_declared_ones_stay() {
        let r = registry(10, 10);
        r.insert_declared("main", Fake::default()).unwrap(); // idle, but declared
        publish(&r, "live-a").unwrap();
        publish(&r, "live-b").unwrap();
        let a = r.get("live-a").unwrap();
        assert!(r.reap(secs(0), "gone").is_empty());
        a.busy.store(false, Ordering::Relaxed); // live-a's publisher leaves at t = 1
        assert!(r.reap(secs(1), "gone").is_empty());
        assert!(r.reap(secs(10), "gone").is_empty(), "9 s idle < 10 s linger");
        // it comes back within the linger: the clock restarts when it leaves again
        a.busy.store(true, Ordering::Relaxed);
        assert!(r.reap(secs(10), "gone").is_empty());
        a.busy.store(false, Ordering::Relaxed);
        assert!(r.reap(secs(12), "gone").is_empty());
        assert!(r.reap(secs(21), "gone").is_empty());
        let removed = r.reap(secs(22), "its publisher left");
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].0, "live-a");
        assert_eq!(a.removed.lock().as_deref(), Some("its publisher left"));
        assert!(matches!(r.get("live-a"), Err(RegistryError::NotLive { .. })));
        assert!(r.get("live-b").is_ok(), "its publisher is still there");
        assert!(r.reap(secs(1_000), "gone").is_empty());
        assert!(r.get("main").is_ok(), "a declared stream is never reaped");
        assert_eq!(r.counts(), (2, 1));
        // the freed place can be taken again, by a new stream of the same id
        publish(&r, "live-a").unwrap();
        assert!(!Arc::ptr_eq(&a, &r.get("live-a").unwrap()));
    }

    #[test]
    fn claims_under_the_lock_keep_a_stream() {
        let r = registry(10, 0);
        publish(&r, "live-a").unwrap();
        let a = r.get("live-a").unwrap();
        a.busy.store(false, Ordering::Relaxed);
        // a publisher takes the slot before the reaper runs: the stream stays
        r.with("live-a", |e| {
            e.busy.store(true, Ordering::Relaxed);
            Ok::<_, RegistryError>(())
        })
        .unwrap();
        assert!(r.reap(secs(5), "gone").is_empty());
        a.busy.store(false, Ordering::Relaxed);
        assert_eq!(r.reap(secs(5), "gone").len(), 1, "linger 0: removed when first seen idle");
        assert!(r.with("live-a", |_| Ok::<_, RegistryError>(())).is_err());
    }

    #[test]
    fn remove_takes_any_stream() {
        let r = registry(10, 10);
        r.insert_declared("main", Fake::default()).unwrap();
        publish(&r, "live-a").unwrap();
        assert!(r.remove("main", "bye").is_some());
        assert!(r.remove("main", "bye").is_none());
        assert!(r.remove("live-a", "bye").is_some());
        assert_eq!(r.counts(), (0, 0));
    }
}
