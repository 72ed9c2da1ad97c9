//! The listen loop: one task, one `select!` over the socket, the playout clock, the
//! once-a-second report and the end conditions.

use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use ondes_core::abr::JitterAdvice;
use ondes_core::proto::control::{FromListener, Ping, Report};

use super::endpoint::Endpoint;
use super::player::Player;
use super::report::{ListenReport, Percentiles, TargetPoint, TargetRange};
use super::sink::AudioSink;
use super::transport::{AudioLayout, Connection, Incoming};
use super::{ListenError, ListenOptions};

/// A snapshot for progress displays, about once a second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenProgress {
    pub elapsed: Duration,
    /// Whether playback has started (the buffer reached its target once).
    pub playing: bool,
    pub frames_received: u64,
    pub frames_lost: u64,
    pub underruns: u64,
    pub buffer_ms: f64,
    pub target_ms: f64,
    pub latency_p50_ms: Option<f64>,
}

/// Wall-clock µs read from a monotonic clock anchored once.
struct Clock {
    start: Instant,
    wall0_us: i64,
}

impl Clock {
    fn new(start: Instant) -> Self {
        let wall = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        Clock { start, wall0_us: wall.as_micros() as i64 }
    }

    fn at(&self, t: Instant) -> i64 {
        self.wall0_us + t.saturating_duration_since(self.start).as_micros() as i64
    }

    fn now(&self) -> i64 {
        self.at(Instant::now())
    }
}

/// What the loop learns besides audio.
#[derive(Default)]
struct Notes {
    codec: String,
    rung: String,
    notices: Vec<String>,
    server_skipped: u64,
    rtts_ms: Vec<f64>,
    pings: u64,
    /// Frames per message the server announced.
    batch: Option<u32>,
    /// The server's latest jitter-buffer advice.
    advice: Option<JitterAdvice>,
}

/// Listens to `opts.url` until the duration is up, the stream ends or `opts.stop` fires;
/// `progress` is called about once a second.
pub async fn listen(
    opts: ListenOptions,
    progress: &mut dyn FnMut(&ListenProgress),
) -> Result<ListenReport, ListenError> {
    let endpoint = Endpoint::parse_as(&opts.url, opts.transport)?;
    if let Some(max) = opts.max_jitter
        && opts.min_jitter > max
    {
        return Err(ListenError::Options(format!(
            "min jitter {:?} is above max jitter {max:?}",
            opts.min_jitter
        )));
    }
    let started = Instant::now();
    let clock = Clock::new(started);
    let deadline = opts.duration.map(|d| started + d);
    let mut conn =
        Connection::open(&endpoint, opts.token.as_deref(), opts.connect_timeout, &opts.tls, opts.rtc_via)
            .await?;
    let mut notes = Notes::default();
    let mut player: Option<Player> = None;
    let mut playout: Option<PlayoutClock> = None;
    let mut second = interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    second.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut stop = opts.stop.clone();

    let end_reason = loop {
        tokio::select! {
            biased;
            _ = sleep_until(deadline) => break "duration".to_string(),
            _ = stopped(&mut stop) => break "stopped".to_string(),
            t = tick(&mut playout) => {
                if let (Some(p), Some(c)) = (player.as_mut(), playout.as_mut()) {
                    let played_us = p.tick(clock.at(t), clock.now())?;
                    c.played(played_us);
                }
            }
            _ = second.tick() => {
                if player.is_none() && started.elapsed() >= opts.connect_timeout {
                    conn.close().await;
                    return Err(ListenError::NoAudio(opts.connect_timeout));
                }
                if let Err(e) = send_report(&mut conn, player.as_ref(), &mut notes, &clock).await {
                    break format!("connection error: {e}");
                }
                progress(&snapshot(player.as_ref(), started));
            }
            r = conn.next() => match r {
                Ok(Some(Incoming::Audio { layout, codec, frames })) => {
                    let arrival = clock.now();
                    if player.is_none() {
                        let batch = notes.batch.unwrap_or(frames.len() as u32);
                        let advised = advised_bounds(&notes, &conn, layout.frame_us, batch);
                        let (p, i) = start_playout(&opts, layout, batch, advised)?;
                        player = Some(p);
                        playout = Some(i);
                    }
                    let Some(p) = player.as_mut() else { continue };
                    if p.layout != layout {
                        break format!("the stream's layout changed ({:?} → {layout:?})", p.layout);
                    }
                    codec.clone_into(&mut notes.codec);
                    for f in frames {
                        p.insert(f, arrival);
                    }
                }
                Ok(Some(Incoming::Rung { rung, batch, jitter, why })) if !rung.is_empty() => {
                    notes.batch = batch.or(notes.batch);
                    if jitter.is_some() {
                        notes.advice = jitter;
                        if let Some(p) = player.as_mut() {
                            let batch = notes.batch.unwrap_or(1);
                            let bounds = opts.jitter_bounds_us(advised_bounds(&notes, &conn, p.layout.frame_us, batch));
                            p.jb.set_bounds(bounds.0, bounds.1).map_err(|e| ListenError::Options(e.to_string()))?;
                        }
                    }
                    let at = started.elapsed().as_secs_f64();
                    match why {
                        Some(why) => notes.notices.push(format!("{at:.1} s: rung {} → {rung} ({why})", notes.rung)),
                        None if !notes.rung.is_empty() && notes.rung != rung => {
                            notes.notices.push(format!("{at:.1} s: rung {} → {rung}", notes.rung));
                        }
                        None => {}
                    }
                    notes.rung = rung;
                }
                Ok(Some(Incoming::Notice { text, skipped })) => {
                    notes.notices.push(text);
                    notes.server_skipped += skipped;
                    if skipped > 0
                        && let Some(p) = player.as_mut()
                    {
                        // the frames after this notice continue from live: jump, don't conceal
                        p.jb.sender_skipped();
                    }
                }
                Ok(Some(Incoming::Pong { client_ts_us })) => {
                    notes.rtts_ms.push((clock.now() - client_ts_us) as f64 / 1000.0);
                }
                Ok(Some(Incoming::Ended(reason))) => break format!("stream ended: {reason}"),
                Ok(Some(_)) => {}
                Ok(None) => break "connection closed".to_string(),
                Err(e) if player.is_none() => {
                    conn.close().await;
                    return Err(e);
                }
                Err(e) => break format!("connection error: {e}"),
            }
        }
    };
    conn.close().await;
    if let Some(p) = player.as_mut() {
        p.finish_output()?;
    }
    Ok(report(&opts, &endpoint, &conn, player.as_ref(), notes, end_reason, started, &clock))
}

/// The player and its clock, made at the first audio (which tells the layout).
///
/// Frames that travel `batch` to a message arrive up to `batch − 1` frames after their
/// capture order would have them, by construction: the jitter target can never usefully
/// be below `batch` frames, so that is its floor. Without the floor the first message — a
/// partial batch when the server aligns batches on sequence numbers — would start the
/// playout too early and the first full batch would underrun it.
fn start_playout(
    opts: &ListenOptions,
    layout: AudioLayout,
    batch: u32,
    advised: Option<(u64, u64)>,
) -> Result<(Player, PlayoutClock), ListenError> {
    if layout.frame_us == 0 || layout.sample_rate == 0 {
        return Err(ListenError::Protocol(format!("unusable layout {layout:?}")));
    }
    let sink = match &opts.out {
        Some(path) => {
            Some(AudioSink::create(path, layout.sample_rate, layout.channels, opts.ogg_bitrate_bps)?)
        }
        None => None,
    };
    let mut cfg = opts.jitter_config(u64::from(layout.frame_us), opts.jitter_bounds_us(advised));
    let packing = u64::from(batch.max(1)) * u64::from(layout.frame_us);
    cfg.min_delay_us = cfg.min_delay_us.max(packing).min(cfg.max_delay_us);
    let player = Player::new(layout, cfg, sink)?;
    let period = Duration::from_micros(u64::from(layout.frame_us));
    Ok((player, PlayoutClock { next: Instant::now() + period }))
}

/// The output's clock: the next poll is due when what was played has played. Deadlines
/// are absolute (each is the previous one plus what it played), and a late one fires at
/// once, so the output keeps pace with wall time however late a wake-up is.
struct PlayoutClock {
    next: Instant,
}

impl PlayoutClock {
    /// The poll due at `self.next` handed out `played_us` of audio (a whole frame, less for
    /// a frame played shortened).
    fn played(&mut self, played_us: u64) {
        self.next += Duration::from_micros(played_us);
    }
}

/// The jitter bounds the server's advice asks for, µs, given the handshake's round trip and
/// `batch` frames of `frame_us` per message (`None` without advice).
fn advised_bounds(notes: &Notes, conn: &Connection, frame_us: u32, batch: u32) -> Option<(u64, u64)> {
    let rtt = conn.handshake_rtt()?.as_micros() as u64;
    Some(notes.advice?.bounds_us(u64::from(batch.max(1)) * u64::from(frame_us), rtt))
}

async fn tick(playout: &mut Option<PlayoutClock>) -> Instant {
    match playout {
        Some(c) => {
            tokio::time::sleep_until(c.next).await;
            c.next
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        // a dropped sender means nobody can stop us any more: wait for the other ends
        Some(rx) => {
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await
            }
        }
        None => std::future::pending().await,
    }
}

/// The once-a-second `report` and `ping` (WebSocket only; SSE has no way back).
async fn send_report(
    conn: &mut Connection,
    player: Option<&Player>,
    notes: &mut Notes,
    clock: &Clock,
) -> Result<(), ListenError> {
    if let Some(p) = player {
        let s = p.jb.stats();
        let report = Report {
            buffer_ms: p.jb.buffer_us() as f64 / 1000.0,
            target_ms: p.jb.target_us() as f64 / 1000.0,
            underruns: s.underruns,
            concealed_ms: p.jb.concealed_us() as f64 / 1000.0,
            late_frames: s.late,
            lost_frames: s.lost,
            received_frames: s.received,
            accelerated_ms: s.accelerated_us as f64 / 1000.0,
            dropped_ms: s.dropped as f64 * f64::from(p.layout.frame_us) / 1000.0,
            rtt_ms: notes.rtts_ms.last().copied(),
            e2e_latency_ms: None,
        };
        conn.send(&FromListener::Report(report)).await?;
    }
    notes.pings += 1;
    conn.send(&FromListener::Ping(Ping { id: Some(notes.pings), client_ts_us: Some(clock.now()) })).await
}

fn snapshot(player: Option<&Player>, started: Instant) -> ListenProgress {
    let mut s = ListenProgress { elapsed: started.elapsed(), ..ListenProgress::default() };
    if let Some(p) = player {
        let st = p.jb.stats();
        s.playing = p.jb.is_playing();
        s.frames_received = st.received;
        s.frames_lost = st.lost;
        s.underruns = st.underruns;
        s.buffer_ms = p.jb.buffer_us() as f64 / 1000.0;
        s.target_ms = p.jb.target_us() as f64 / 1000.0;
        s.latency_p50_ms = p.e2e.quantile_ms(0.5);
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn report(
    opts: &ListenOptions,
    endpoint: &Endpoint,
    conn: &Connection,
    player: Option<&Player>,
    notes: Notes,
    end_reason: String,
    started: Instant,
    clock: &Clock,
) -> ListenReport {
    let (bytes_received, messages_received) = conn.received();
    let mut rtts = notes.rtts_ms;
    rtts.sort_by(f64::total_cmp);
    let transport = conn.transport();
    let mut r = ListenReport {
        url: endpoint.url().to_string(),
        transport: transport.to_string(),
        rung: if notes.rung.is_empty() && transport != "ws" { notes.codec.clone() } else { notes.rung },
        codec: notes.codec,
        end_reason,
        duration_secs: started.elapsed().as_secs_f64(),
        rtt_ms: rtts.get(rtts.len() / 2).copied(),
        handshake_rtt_ms: conn.handshake_rtt().map(|d| d.as_secs_f64() * 1000.0),
        bytes_received,
        messages_received,
        red_recovered: conn.red_recovered(),
        server_notices: notes.notices,
        server_skipped_frames: notes.server_skipped,
        out: opts.out.as_ref().map(|p| p.display().to_string()),
        ..ListenReport::default()
    };
    let Some(p) = player else { return r };
    let s = p.jb.stats();
    let frame_ms = f64::from(p.layout.frame_us) / 1000.0;
    let t0 = clock.at(started);
    let ms = |us: i64| us as f64 / 1000.0;
    let (lo, hi) = p.jb.target_range_us().unwrap_or((p.jb.target_us(), p.jb.target_us()));
    r.sample_rate = p.layout.sample_rate;
    r.channels = p.layout.channels;
    r.frame_ms = frame_ms;
    r.audio_payload_bytes = p.payload_bytes;
    r.played_secs = p.played_samples as f64 / f64::from(p.layout.sample_rate.max(1));
    r.frames_received = s.received;
    r.frames_played = s.played;
    r.frames_lost = s.lost;
    r.frames_late = s.late;
    r.duplicates = s.duplicates;
    r.frames_dropped = s.dropped;
    r.frames_skipped = s.skipped;
    r.fec_recovered = s.fec_recovered;
    r.underruns = s.underruns;
    r.underrun_ms = s.underrun_frames as f64 * frame_ms;
    r.stretched_ms = s.stretched as f64 * frame_ms;
    r.accelerated_ms = s.accelerated_us as f64 / 1000.0;
    r.frames_accelerated = s.accelerated;
    r.concealed_ms = p.jb.concealed_us() as f64 / 1000.0;
    r.latency_ms = Percentiles::from(p.e2e.summary());
    r.network_latency_ms = Percentiles::from(p.network.summary());
    r.latency_by_second_ms = p.latency_by_second.means_ms();
    r.latency_series_start_secs = p.latency_by_second.start_us.map(|s| (s - t0) as f64 / 1e6);
    let cfg = p.jb.config();
    r.jitter_bounds_ms = [cfg.min_delay_us as f64 / 1000.0, cfg.max_delay_us as f64 / 1000.0];
    r.buffer_target_ms = TargetRange { min: ms(lo), max: ms(hi), last: ms(p.jb.target_us()) };
    r.buffer_target_history =
        p.jb.history()
            .iter()
            .map(|h| TargetPoint {
                t_secs: (h.at_us - t0) as f64 / 1e6,
                target_ms: ms(h.target_us),
                buffer_ms: ms(h.buffer_us),
            })
            .collect();
    for h in p.jb.history() {
        r.time_to_recover.handle_level(ms(h.buffer_us), ms(h.target_us), (h.at_us - t0).max(0) as u64);
    }
    if p.decode_errors() > 0 {
        r.server_notices.push(format!("{} Opus packets failed to decode (concealed)", p.decode_errors()));
    }
    r
}
