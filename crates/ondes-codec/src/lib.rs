//! ondes codecs.
