//! One writer per feed: a task that owns the sockets of many listeners and writes the
//! shared bytes to each with non-blocking writes.
//!
//! Listeners whose connection was handed over by the HTTP layer (their response head is
//! written; the rest of the connection is a stream of messages) join the writer of their
//! feed — stream and batch, so that every listener of a writer wakes at the same frames —
//! and shard (one per core). On each wake-up (a group of frames completed, the stream's
//! control changed, a tick) the writer brings every session up to date and writes what it
//! has: one vectored non-blocking write per listener, resumed at its offset next time when
//! the socket took only part (the session's machine keeps the offset). A listener whose
//! socket would block keeps its place; its session skips it to live once it is more than
//! `max_listener_lag_ms` behind, at a message boundary, and counts it. Nothing per listener
//! wakes a task, and a slow listener costs the others one failed write per wake-up.
//!
//! What clients send is read when their socket says it has something (readiness from the
//! reactor, never a read per frame): WebSocket listeners' reports, pings and closes go to
//! their session; SSE and Ogg listeners send nothing after their request, so anything they
//! send is dropped, and a read of 0 bytes (the peer closed) ends them.
//!
//! Writers run on their own threads (one small runtime, a thread per core, shared by every
//! server in the process), not on the workers that accept connections and answer requests:
//! a writer going over thousands of sockets must not delay the next listener's handshake,
//! and the operating system shares the cores between the two fairly.

use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use super::body::Heartbeat;
use super::session::{ListenerSession, Transport};
use crate::hub::StreamHub;

/// Most slices one write hands the kernel.
pub const MAX_SLICES: usize = 16;

/// A session as a writer drives it, whatever its transport.
pub trait WriterSession: Send {
    fn update(&mut self);
    /// Fills `out` with the slices to write next; returns how many.
    fn transmit<'a>(&'a self, out: &mut [&'a [u8]; MAX_SLICES]) -> usize;
    fn written(&mut self, n: usize);
    fn is_finished(&self) -> bool;
    /// Queues what is due at `now` (heartbeats, pings); called every [`TICK`]. True when the
    /// session wants an update and a write now: it queued something, or bytes wait from a
    /// write the socket refused (the tick is their retry). The others are left alone, so a
    /// tick costs a timer check per listener, not a pass over the stream.
    fn tick(&mut self, now: tokio::time::Instant) -> bool;
    /// Bytes the client sent; false when they end the connection. Listeners of one-way
    /// transports send nothing that matters: dropped.
    fn input(&mut self, _bytes: &[u8]) -> bool {
        true
    }
    /// Everything queued was written and frames still wait in the ring: the producer pushed
    /// several frames in one wake-up (a cluster edge pushes a message's group at once), and
    /// the writer reads and writes again instead of waiting for the next wake-up.
    fn more_ready(&self) -> bool {
        false
    }
    /// The listener's socket, once per [`TICK`] before [`WriterSession::tick`], for sessions
    /// that read its state (an adaptive WebSocket listener samples `TCP_INFO`).
    fn socket(&mut self, _tcp: &TcpStream, _now: tokio::time::Instant) {}
}

/// Most read-and-write rounds for one listener in one pass (see [`WriterSession::more_ready`]).
const MAX_CATCH_UP: usize = 16;

/// Most handed-over listeners a writer takes in one wake-up (the rest in the next).
const MAX_JOINS_AT_ONCE: usize = 512;

/// How often sessions are ticked (their timers are checked).
pub const TICK: Duration = Duration::from_millis(100);

/// A [`ListenerSession`] with its heartbeat schedule.
pub struct Driven<T: Transport + Heartbeat> {
    pub session: ListenerSession<T>,
    heartbeat: Option<(Duration, tokio::time::Instant)>,
}

impl<T: Transport + Heartbeat> Driven<T> {
    pub fn new(session: ListenerSession<T>, heartbeat: Option<Duration>) -> Self {
        Driven { session, heartbeat: heartbeat.map(|p| (p, tokio::time::Instant::now() + p)) }
    }
}

impl<T: Transport + Heartbeat + 'static> WriterSession for Driven<T> {
    fn update(&mut self) {
        self.session.update();
    }

    fn transmit<'a>(&'a self, out: &mut [&'a [u8]; MAX_SLICES]) -> usize {
        self.session.egress.poll_transmit_slices(out)
    }

    fn written(&mut self, n: usize) {
        self.session.written(n);
    }

    fn is_finished(&self) -> bool {
        self.session.is_finished()
    }

    fn more_ready(&self) -> bool {
        self.session.more_ready()
    }

    fn tick(&mut self, now: tokio::time::Instant) -> bool {
        if let Some((period, due)) = &mut self.heartbeat
            && now >= *due
        {
            *due = now + *period;
            self.session
                .guard
                .info
                .last_heartbeat_ms
                .store(crate::clock::now_ms(), std::sync::atomic::Ordering::Relaxed);
            let hb = self.session.transport.heartbeat();
            self.session.egress.push_control_now(hb);
        }
        !self.session.egress.is_idle()
    }
}

/// A listener handed to a writer: its socket (response head written) and its session.
pub struct Handover {
    pub tcp: TcpStream,
    pub session: Box<dyn WriterSession>,
}

/// The slot through which a listener route hands its session to the connection layer,
/// which then writes the response head and gives the socket and session to a writer.
/// Requests that came through hyper (a reused keep-alive connection) have no slot, and
/// their session is written as the response body instead.
#[derive(Clone, Default)]
pub struct Takeover(Arc<Mutex<Option<Taken>>>);

/// A session waiting for its socket.
pub struct Taken {
    pub hub: Arc<StreamHub>,
    pub batch: u64,
    pub session: Box<dyn WriterSession>,
}

impl Takeover {
    pub fn put(&self, t: Taken) {
        *self.0.lock() = Some(t);
    }

    pub fn take(&self) -> Option<Taken> {
        self.0.lock().take()
    }
}

/// Which writer a listener joins.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FeedId {
    stream: String,
    batch: u64,
    shard: usize,
}

/// The runtime the writers run on: started at the first listener, kept for the life of the
/// process (a runtime cannot be dropped from async code, and it costs nothing while idle).
fn writer_runtime(threads: usize) -> &'static tokio::runtime::Handle {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("ondes-writer")
                .enable_time()
                .build()
                // creating threads fails only when the process is out of resources at start
                .expect("cannot start the listener writer threads")
        })
        .handle()
}

/// The writers of the server, by feed and shard.
pub struct Writers {
    shards: usize,
    map: Mutex<HashMap<FeedId, mpsc::UnboundedSender<Handover>>>,
    next_shard: std::sync::atomic::AtomicUsize,
    shutdown: watch::Receiver<bool>,
}

impl Writers {
    pub fn new(shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let shards = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Writers {
            shards,
            map: Mutex::new(HashMap::new()),
            next_shard: std::sync::atomic::AtomicUsize::new(0),
            shutdown,
        })
    }

    /// Hands a listener of `hub` (messages of `batch` frames) to its feed's writer.
    pub fn hand_over(self: &Arc<Self>, hub: &Arc<StreamHub>, batch: u64, h: Handover) {
        let shard = self.next_shard.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.shards;
        let id = FeedId { stream: hub.id.clone(), batch, shard };
        let mut map = self.map.lock();
        let mut h = Some(h);
        if let Some(tx) = map.get(&id)
            && let Some(handover) = h.take()
            && let Err(mpsc::error::SendError(back)) = tx.send(handover)
        {
            h = Some(back); // that writer just stopped: start a new one
        }
        let Some(h) = h else { return };
        let (tx, rx) = mpsc::unbounded_channel();
        // the receiver is alive: it was made just above
        let _ = tx.send(h);
        let writers = self.clone();
        let me = tx.clone();
        map.insert(id.clone(), tx);
        writer_runtime(self.shards)
            .spawn(run(hub.clone(), batch, rx, self.shutdown.clone(), move || writers.retire(&id, &me)));
    }

    /// Forgets a writer that found itself without listeners: no listener is handed to it
    /// after this returns (the caller then takes what was handed before).
    fn retire(&self, id: &FeedId, tx: &mpsc::UnboundedSender<Handover>) {
        let mut map = self.map.lock();
        if map.get(id).is_some_and(|t| t.same_channel(tx)) {
            map.remove(id);
        }
    }
}

struct Listener {
    id: u64,
    tcp: Arc<TcpStream>,
    session: Box<dyn WriterSession>,
    /// Dropped with the listener: ends its readiness watch.
    _watch: oneshot::Sender<()>,
}

impl Listener {
    /// A listener, and what its readiness watch needs ([`readable`]).
    fn new(id: u64, h: Handover) -> (Self, Arc<TcpStream>, oneshot::Receiver<()>) {
        let tcp = Arc::new(h.tcp);
        let (tx, rx) = oneshot::channel();
        (Listener { id, tcp: tcp.clone(), session: h.session, _watch: tx }, tcp, rx)
    }
}

/// Resolves to `id` when `tcp` has something to read or the listener is gone.
async fn readable(id: u64, tcp: Arc<TcpStream>, gone: oneshot::Receiver<()>) -> u64 {
    tokio::select! {
        _ = tcp.readable() => id,
        _ = gone => id,
    }
}

/// Reads what a listener sent; false when its connection is over.
fn read(l: &mut Listener) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match l.tcp.try_read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                if !l.session.input(&buf[..n]) {
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Writes one listener's pending bytes; false when its connection is gone.
/// [`write`], then reads and writes again while the socket takes everything and more frames
/// are ready ([`WriterSession::more_ready`]).
fn write_ready(l: &mut Listener) -> bool {
    for _ in 0..MAX_CATCH_UP {
        if !write(l) {
            return false;
        }
        if !l.session.more_ready() {
            return true;
        }
        l.session.update();
    }
    write(l)
}

fn write(l: &mut Listener) -> bool {
    loop {
        let mut parts: [&[u8]; MAX_SLICES] = [&[]; MAX_SLICES];
        let n = l.session.transmit(&mut parts);
        if n == 0 {
            return true;
        }
        let mut io = [IoSlice::new(&[]); MAX_SLICES];
        for (slot, p) in io.iter_mut().zip(&parts[..n]) {
            *slot = IoSlice::new(p);
        }
        match l.tcp.try_write_vectored(&io[..n]) {
            Ok(0) => return false,
            Ok(n) => l.session.written(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

async fn run(
    hub: Arc<StreamHub>,
    batch: u64,
    mut joins: mpsc::UnboundedReceiver<Handover>,
    mut shutdown: watch::Receiver<bool>,
    retire: impl Fn(),
) {
    let mut frames = hub.group_watch(batch);
    let mut control = hub.subscribe().control.clone();
    let mut listeners: Vec<Listener> = Vec::new();
    let mut watches = FuturesUnordered::new();
    let mut next_id = 0u64;
    let mut join = |h: Handover, listeners: &mut Vec<Listener>| {
        next_id += 1;
        let (l, tcp, gone) = Listener::new(next_id, h);
        listeners.push(l);
        (next_id, readable(next_id, tcp, gone))
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_ticks = 0u32;
    let mut stopping = false;
    // Who needs an update and a write after a wake-up: everyone when the stream moved (a
    // group of frames, a control change, shutdown); only the one concerned when a listener
    // joins or sends something; only those a tick asks for. A join storm of N listeners
    // thus costs N passes over one listener, not N passes over the stream.
    let mut due: Vec<u64> = Vec::new();
    loop {
        let mut everyone = false;
        due.clear();
        tokio::select! {
            // the writer holds the hub, so its senders outlive these receivers
            _ = frames.changed() => everyone = true,
            _ = control.changed() => everyone = true,
            // on shutdown the streams end and the sessions say so and finish; a server that is
            // gone altogether (its runtime too) leaves nothing to write to
            r = shutdown.changed() => {
                stopping = r.is_err();
                everyone = true;
            }
            Some(h) = joins.recv() => {
                let (id, watch) = join(h, &mut listeners);
                watches.push(watch);
                due.push(id);
                // the joins waiting too, in one go: when a pass over the stream outlasts a
                // group of frames, the frames branch is always ready and one join per
                // iteration would leave a join storm queued for seconds (its listeners
                // starting far behind live)
                for _ in 1..MAX_JOINS_AT_ONCE {
                    let Ok(h) = joins.try_recv() else { break };
                    let (id, watch) = join(h, &mut listeners);
                    watches.push(watch);
                    due.push(id);
                }
            }
            Some(id) = watches.next(), if !watches.is_empty() => {
                if let Some(i) = listeners.iter().position(|l| l.id == id) {
                    if read(&mut listeners[i]) {
                        let l = &listeners[i];
                        let (tcp, (tx, rx)) = (l.tcp.clone(), oneshot::channel());
                        listeners[i]._watch = tx;
                        watches.push(readable(id, tcp, rx));
                        due.push(id);
                    } else {
                        listeners.swap_remove(i);
                    }
                }
            }
            now = tick.tick() => {
                for l in &mut listeners {
                    l.session.socket(&l.tcp, now);
                    if l.session.tick(now) {
                        due.push(l.id);
                    }
                }
                if listeners.is_empty() {
                    idle_ticks += 1;
                    if idle_ticks >= 20 {
                        retire();
                        // what was handed over before the retirement is in the channel
                        while let Ok(h) = joins.try_recv() {
                            let (id, watch) = join(h, &mut listeners);
                            watches.push(watch);
                            due.push(id);
                        }
                        if listeners.is_empty() {
                            return;
                        }
                    }
                } else {
                    idle_ticks = 0;
                }
            }
        }
        if everyone || due.len() * 4 > listeners.len() {
            listeners.retain_mut(|l| {
                l.session.update();
                write_ready(l) && !l.session.is_finished()
            });
        } else {
            // few: found by id (joins and readable listeners are one at a time)
            for id in &due {
                if let Some(i) = listeners.iter().rposition(|l| l.id == *id) {
                    let l = &mut listeners[i];
                    l.session.update();
                    if !write_ready(l) || l.session.is_finished() {
                        listeners.swap_remove(i);
                    }
                }
            }
        }
        if stopping {
            retire();
            return;
        }
    }
}
