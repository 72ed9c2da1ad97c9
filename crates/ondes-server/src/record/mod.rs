//! Recording a stream to disk: `record = { format, path, segment_secs, rung }` on a
//! `[[stream]]` (docs/recording.md).
//!
//! A [`Recorder`] reads its rung's Opus packets (or the FLAC rung's frames) from the hub
//! like a listener (so the rung keeps encoding while it records) and appends them to files
//! cut at wall-clock multiples of `segment_secs` ([`ondes_core::record::Rotation`]). Each
//! write is a whole Ogg page, MP4 fragment or FLAC frame, so a file cut short by a crash or
//! `kill -9` is valid up to its last whole unit. A failed write (a full disk) closes the file, is logged (rate-limited) and counted,
//! and the frames until the next attempt ([`ondes_core::record::WriteRetry`]) are dropped
//! and counted; listeners are never touched — the recorder is one more reader of the ring.

pub mod format;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ondes_core::record::{Rotation, WriteRetry};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use self::format::{FileFormat, Layout, OpusLayout, new_file};
use crate::clock::{civil, now_us};
use crate::config::{RecordConfig, RecordFormat};
use crate::hub::{CodedRung, CodedUse, HubFrame, HubRead, HubReader, RungUse, StreamHub};
use crate::log_limit::WarnLimit;

/// First wait after a failed write; it doubles up to [`MAX_RETRY_US`].
const FIRST_RETRY_US: i64 = 1_000_000;
const MAX_RETRY_US: i64 = 30_000_000;

static WRITE_FAILED: WarnLimit = WarnLimit::per_secs(10);

/// A stream's recorder and its counters.
pub struct Recorder {
    pub stream: String,
    pub config: RecordConfig,
    files_started: AtomicU64,
    bytes_written: AtomicU64,
    frames_written: AtomicU64,
    /// Frames not recorded: no file open after a failed write, or the recorder fell behind.
    frames_dropped: AtomicU64,
    write_errors: AtomicU64,
    current: Mutex<Option<String>>,
    last_error: Mutex<Option<String>>,
}

/// The recorder's counters as `/recordings` and `/stats` show them.
#[derive(Debug, Clone, Serialize)]
pub struct RecorderStats {
    pub format: RecordFormat,
    pub path: String,
    pub segment_secs: u64,
    pub files_started: u64,
    pub bytes_written: u64,
    pub frames_written: u64,
    pub frames_dropped: u64,
    pub write_errors: u64,
    /// The file being written now (none while failing).
    pub current_file: Option<String>,
    pub last_error: Option<String>,
}

/// One file of a recording.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingFile {
    pub name: String,
    pub bytes: u64,
    /// Seconds since the Unix epoch of its last write.
    pub modified_secs: u64,
    /// Whether it is the file being written now.
    pub recording: bool,
}

/// Where the recorded units come from, held in use while recording.
enum Feed {
    /// An Opus rung's packets (concealment packets where the rung had none yet).
    Opus { idx: usize, _use: RungUse, last_toc: Option<u8> },
    /// The FLAC rung's frames.
    Flac { _use: CodedUse },
}

impl Feed {
    fn unit(&mut self, f: &HubFrame) -> Option<bytes::Bytes> {
        match self {
            Feed::Opus { idx, last_toc, .. } => f.continuous_packet(*idx, last_toc),
            // a frame before the encoder started has none: FLAC frames stand alone
            Feed::Flac { .. } => f.coded_bytes(CodedRung::Flac).cloned(),
        }
    }
}

/// The open file and what goes in it.
struct OpenFile {
    name: String,
    file: tokio::fs::File,
    format: Box<dyn FileFormat>,
}

impl Recorder {
    pub fn new(stream: &str, config: RecordConfig) -> Arc<Self> {
        Arc::new(Recorder {
            stream: stream.to_string(),
            config,
            files_started: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            frames_written: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            current: Mutex::new(None),
            last_error: Mutex::new(None),
        })
    }

    fn dir(&self) -> &Path {
        Path::new(&self.config.path)
    }

    fn extension(&self) -> &'static str {
        self.config.format.extension()
    }

    /// `{stream}-{YYYYmmddTHHMMSSZ}.{ext}` for a file starting at `capture_us`.
    fn file_name(&self, capture_us: i64) -> String {
        let (y, mo, d, h, mi, s, _) = civil(capture_us.div_euclid(1_000_000));
        format!("{}-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z.{}", self.stream, self.extension())
    }

    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            format: self.config.format,
            path: self.config.path.clone(),
            segment_secs: self.config.segment_secs,
            files_started: self.files_started.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            frames_written: self.frames_written.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            current_file: self.current.lock().clone(),
            last_error: self.last_error.lock().clone(),
        }
    }

    /// This stream's files in the directory, oldest first.
    pub fn files(&self) -> std::io::Result<Vec<RecordingFile>> {
        let prefix = format!("{}-", self.stream);
        let suffix = format!(".{}", self.extension());
        let current = self.current.lock().clone();
        let mut v = Vec::new();
        let entries = match std::fs::read_dir(self.dir()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || !name.ends_with(&suffix) {
                continue;
            }
            let meta = entry.metadata()?;
            let modified_secs = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let recording = current.as_deref() == Some(name.as_str());
            v.push(RecordingFile { name, bytes: meta.len(), modified_secs, recording });
        }
        // names carry the start time: their order is the files' order
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// What feeds the file, and the layout its header states.
    fn feed(&self, hub: &Arc<StreamHub>) -> Result<(Feed, Layout, String), String> {
        if self.config.format == RecordFormat::Flac {
            let format = hub.codecs.flac_format().ok_or(format!("stream '{}' has no FLAC rung", hub.id))?;
            let used =
                hub.use_coded(CodedRung::Flac).ok_or(format!("stream '{}' has no FLAC rung", hub.id))?;
            return Ok((Feed::Flac { _use: used }, Layout::Flac(format), "FLAC".into()));
        }
        let kbps = hub.ladder.kbps();
        let idx = match self.config.rung {
            Some(k) => kbps.iter().position(|x| *x == k),
            None => kbps.len().checked_sub(1),
        };
        let no_rung = || format!("stream '{}' has no Opus rung to record", hub.id);
        let idx = idx.ok_or_else(no_rung)?;
        let used = hub.use_rung(idx).ok_or_else(no_rung)?;
        let opus = OpusLayout {
            channels: hub.spec.channels,
            input_sample_rate: hub.spec.sample_rate,
            pre_skip: hub.ladder.pre_skip_48k(),
        };
        Ok((
            Feed::Opus { idx, _use: used, last_toc: None },
            Layout::Opus(opus),
            format!("{} kbit/s Opus", kbps[idx]),
        ))
    }

    /// Records `hub` until it ends or the server stops.
    pub async fn run(self: Arc<Self>, hub: Arc<StreamHub>, mut shutdown: watch::Receiver<bool>) {
        let (mut feed, layout, what) = match self.feed(&hub) {
            Ok(f) => f,
            Err(message) => {
                self.fail_for_good(message);
                return;
            }
        };
        let samples_48k = (u64::from(hub.spec.duration.as_us()) * 48 / 1000) as u32;
        let mut reader = HubReader::at_live(&hub);
        let mut rotation = Rotation::new(self.config.segment_secs);
        let mut retry = WriteRetry::new(FIRST_RETRY_US, MAX_RETRY_US);
        let mut open: Option<OpenFile> = None;
        tracing::info!(stream = %hub.id, path = %self.config.path, audio = %what, "recording");
        while let Some(items) = reader.next(&mut shutdown).await {
            for r in items {
                let f = match r {
                    HubRead::Frame(f) => f,
                    HubRead::Skipped(n) => {
                        // the recorder fell a whole ring behind (a disk slower than real time)
                        self.frames_dropped.fetch_add(*n, Ordering::Relaxed);
                        continue;
                    }
                };
                let Some(packet) = feed.unit(f) else { continue };
                let capture_us = f.frame.capture_us;
                if rotation.starts_file(capture_us)
                    && let Some(o) = open.take()
                {
                    self.close(o, &mut retry).await;
                }
                if open.is_none() && retry.may_try(now_us()) {
                    open = self.open(capture_us, layout, &mut retry).await;
                    if open.is_none() {
                        rotation.reset();
                    }
                }
                let Some(o) = open.as_mut() else {
                    self.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let bytes = o.format.push(&packet, samples_48k);
                if self.write(o, &bytes, &mut retry).await {
                    self.frames_written.fetch_add(1, Ordering::Relaxed);
                } else {
                    // this frame and the ones held for the unit are lost with the file
                    self.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    open = None;
                    *self.current.lock() = None;
                    rotation.reset();
                }
            }
        }
        if let Some(o) = open.take() {
            self.close(o, &mut retry).await;
        }
        *self.current.lock() = None;
        tracing::info!(stream = %hub.id, files = self.files_started.load(Ordering::Relaxed), "recording stopped");
    }

    async fn open(&self, capture_us: i64, layout: Layout, retry: &mut WriteRetry) -> Option<OpenFile> {
        let name = self.file_name(capture_us);
        let path: PathBuf = self.dir().join(&name);
        let serial = (capture_us / 1_000_000) as u32 ^ 0x6F6E_6465;
        let made = async {
            tokio::fs::create_dir_all(self.dir()).await?;
            let format = new_file(self.config.format, layout, &self.stream, serial)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
            // a second file in the same second (after a failure) continues it
            let file = tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await?;
            Ok::<_, std::io::Error>(OpenFile { name: name.clone(), file, format })
        };
        match made.await {
            Ok(mut o) => {
                let head = o.format.begin();
                if !self.write(&mut o, &head, retry).await {
                    // nothing of it is playable: leave no empty file behind each retry
                    if tokio::fs::metadata(&path).await.is_ok_and(|m| m.len() <= head.len() as u64) {
                        let _ = tokio::fs::remove_file(&path).await;
                    }
                    return None;
                }
                self.files_started.fetch_add(1, Ordering::Relaxed);
                *self.current.lock() = Some(name.clone());
                tracing::info!(stream = %self.stream, file = %path.display(), "recording file started");
                Some(o)
            }
            Err(e) => {
                self.failed(&path, &e, retry);
                None
            }
        }
    }

    /// Appends `bytes` (whole units); false if the write failed (the file is then given up).
    async fn write(&self, o: &mut OpenFile, bytes: &[u8], retry: &mut WriteRetry) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let r = async {
            o.file.write_all(bytes).await?;
            // tokio's file buffers: flushing hands the bytes to the kernel now, so a killed
            // process loses at most the unit being made
            o.file.flush().await
        };
        match r.await {
            Ok(()) => {
                self.bytes_written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                retry.succeeded();
                true
            }
            Err(e) => {
                self.failed(&self.dir().join(&o.name), &e, retry);
                false
            }
        }
    }

    async fn close(&self, mut o: OpenFile, retry: &mut WriteRetry) {
        let tail = o.format.finish();
        self.write(&mut o, &tail, retry).await;
        *self.current.lock() = None;
    }

    fn failed(&self, path: &Path, e: &std::io::Error, retry: &mut WriteRetry) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        retry.failed(now_us());
        let message = format!("{}: {e}", path.display());
        if let Some(suppressed) = WRITE_FAILED.check() {
            tracing::warn!(stream = %self.stream, error = %message, suppressed, "recording write failed; frames are dropped until a retry succeeds");
        }
        *self.last_error.lock() = Some(message);
    }

    fn fail_for_good(&self, message: String) {
        tracing::error!(stream = %self.stream, %message, "recording cannot start");
        *self.last_error.lock() = Some(message);
    }
}
