//! A stream's current title ("Artist - Song"), as Icecast source clients set it with
//! `/admin/metadata?mode=updinfo&song=…` and as Icecast-style MP3 listeners receive it in
//! band (`icy-metaint`, [`crate::egress::icy`]). Any route that sets a title (the Icecast
//! admin route, a control action) calls [`StreamTitle::set`]; readers take the current
//! value with its version, so a listener sends a metadata block only when it changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Longest title, in bytes: an ICY metadata block is at most 255 × 16 = 4080 bytes, and
/// `StreamTitle='';` takes 15 of them.
pub const MAX_TITLE_BYTES: usize = 255 * 16 - "StreamTitle='';".len();

/// Why a title is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    #[error("the title is {0} bytes; an ICY metadata block holds at most {MAX_TITLE_BYTES} (shorten it)")]
    TooLong(usize),
    #[error("the title contains control characters (line breaks, NUL); send plain text")]
    Control,
}

/// The title of one stream; shared by its mount and every listener of it.
#[derive(Debug, Default)]
pub struct StreamTitle {
    current: Mutex<Option<Arc<str>>>,
    /// Bumped on every change; 0 = never set.
    version: AtomicU64,
}

impl StreamTitle {
    /// Sets the title (an empty one clears it). Trims surrounding whitespace.
    pub fn set(&self, title: &str) -> Result<(), TitleError> {
        let title = title.trim();
        if title.len() > MAX_TITLE_BYTES {
            return Err(TitleError::TooLong(title.len()));
        }
        if title.chars().any(char::is_control) {
            return Err(TitleError::Control);
        }
        let mut cur = self.current.lock();
        *cur = (!title.is_empty()).then(|| Arc::from(title));
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The title now, if any.
    pub fn get(&self) -> Option<Arc<str>> {
        self.current.lock().clone()
    }

    /// Changes so far (cheap: a listener compares it before taking the title).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_clears_and_refuses() {
        let t = StreamTitle::default();
        assert_eq!((t.get(), t.version()), (None, 0));
        t.set("  Artist - Song ").unwrap();
        assert_eq!(t.get().as_deref(), Some("Artist - Song"));
        assert_eq!(t.version(), 1);
        t.set("").unwrap();
        assert_eq!((t.get(), t.version()), (None, 2));
        assert_eq!(t.set(&"x".repeat(MAX_TITLE_BYTES + 1)), Err(TitleError::TooLong(MAX_TITLE_BYTES + 1)));
        assert!(t.set(&"x".repeat(MAX_TITLE_BYTES)).is_ok());
        assert_eq!(t.set("a\nb"), Err(TitleError::Control));
    }
}
