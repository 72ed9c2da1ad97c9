//! The floor (`ondes bench floor`) on loopback: real sockets, real Ogg/Opus pages.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ondes_tools::bench::floor::{FloorOptions, FloorServer};

const PAGE_MS: u32 = 100;
/// Granule samples (48 kHz) per page.
const PAGE_SAMPLES: u64 = 48 * PAGE_MS as u64;

/// One page as a listener saw it.
#[derive(Debug)]
struct SeenPage {
    sequence: u32,
    granule: u64,
    bos: bool,
    body: Vec<u8>,
}

/// What one listener received: the response head and the complete pages after it.
#[derive(Debug)]
struct Received {
    head: String,
    pages: Vec<SeenPage>,
}

fn request(addr: SocketAddr, stream: &mut TcpStream) {
    write!(stream, "GET /live HTTP/1.1\r\nHost: {addr}\r\nIcy-MetaData: 0\r\n\r\n").unwrap();
}

/// Connects, asks for the stream and reads everything for `window`.
fn listen(addr: SocketAddr, window: Duration) -> Received {
    let mut stream = TcpStream::connect(addr).unwrap();
    request(addr, &mut stream);
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let end = Instant::now() + window;
    while Instant::now() < end {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Received {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let mut pages = Vec::new();
    let mut at = end;
    while bytes.len() >= at + 27 {
        let p = &bytes[at..];
        assert_eq!(&p[..4], b"OggS", "page {} does not start with OggS", pages.len());
        let segments = usize::from(p[26]);
        if p.len() < 27 + segments {
            break;
        }
        let body_len: usize = p[27..27 + segments].iter().map(|&l| usize::from(l)).sum();
        let len = 27 + segments + body_len;
        if p.len() < len {
            break; // the page in flight when the window closed
        }
        pages.push(SeenPage {
            sequence: u32::from_le_bytes(p[18..22].try_into().unwrap()),
            granule: u64::from_le_bytes(p[6..14].try_into().unwrap()),
            bos: p[5] & 0x02 != 0,
            body: p[27 + segments..len].to_vec(),
        });
        at += len;
    }
    Received { head, pages }
}

/// A listener that asks for the stream and never reads, with a tiny receive buffer so that
/// its socket fills within a second or two.
fn stalled_listener(addr: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        socket.connect(addr).await.unwrap()
    });
    let mut stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    request(addr, &mut stream);
    stream
}

fn check_listener(i: usize, r: &Received) {
    assert!(r.head.starts_with("HTTP/1.0 200 OK\r\n"), "listener {i}: {:?}", r.head);
    assert!(r.head.contains("Content-Type: audio/ogg\r\n"), "listener {i}: {:?}", r.head);
    let pages = &r.pages;
    assert!(pages.len() >= 2 + 8, "listener {i}: {} pages in 1 s of 100 ms pages", pages.len());
    assert!(
        pages[0].bos && pages[0].body.starts_with(b"OpusHead"),
        "listener {i}: first page {:?}",
        pages[0]
    );
    assert!(!pages[1].bos && pages[1].body.starts_with(b"OpusTags"), "listener {i}: second page");
    assert_eq!((pages[0].granule, pages[1].granule), (0, 0), "listener {i}: header granules");
    assert_eq!(pages[0].body[9], 2, "listener {i}: stereo OpusHead");
    for w in pages.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1), "listener {i}: page numbers jump");
    }
    for w in pages[2..].windows(2) {
        assert_eq!(w[1].granule, w[0].granule + PAGE_SAMPLES, "listener {i}: audio is not continuous");
    }
    assert_eq!(pages[2].granule % PAGE_SAMPLES, 0, "listener {i}: first audio page");
}

#[test]
fn three_listeners_get_headers_and_consecutive_pages_while_a_fourth_stalls() {
    let mut opts = FloorOptions::new("127.0.0.1:0".parse().unwrap());
    opts.page_ms = PAGE_MS;
    opts.threads = 2;
    // small kernel buffers: the stalled listener's socket fills in about a second
    opts.send_buffer = Some(4096);
    let floor = FloorServer::start(opts).unwrap();
    let addr = floor.local_addr();

    let stalled = stalled_listener(addr);
    let deadline = Instant::now() + Duration::from_secs(20);
    while floor.stats().skipped == 0 {
        assert!(Instant::now() < deadline, "the stalled listener's socket never filled: {:?}", floor.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
    let skipped_before = floor.stats().skipped;

    let readers: Vec<_> =
        (0..3).map(|_| std::thread::spawn(move || listen(addr, Duration::from_secs(1)))).collect();
    let received: Vec<Received> = readers.into_iter().map(|t| t.join().unwrap()).collect();
    for (i, r) in received.iter().enumerate() {
        check_listener(i, r);
    }

    let stats = floor.stats();
    // still stalled, still held, and left out of every page meanwhile rather than waited for
    assert!(stats.skipped >= skipped_before + 5, "{skipped_before} then {stats:?}");
    assert_eq!(stats.accepted, 4, "{stats:?}");
    assert!(stats.pages >= 12, "{stats:?}");
    drop(stalled);
    floor.stop();
}

#[test]
fn a_listener_that_leaves_is_dropped_and_bad_options_are_refused() {
    let mut opts = FloorOptions::new("127.0.0.1:0".parse().unwrap());
    opts.page_ms = 20;
    opts.threads = 1;
    let floor = FloorServer::start(opts.clone()).unwrap();
    let r = listen(floor.local_addr(), Duration::from_millis(300));
    check_audio_only(&r);
    let deadline = Instant::now() + Duration::from_secs(10);
    while floor.stats().closed == 0 {
        assert!(Instant::now() < deadline, "the closed listener was never dropped: {:?}", floor.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(floor.stats().listeners, 0);
    floor.stop();

    for (page_ms, threads) in [(30, 1), (0, 1), (100, 0)] {
        let bad = FloorOptions { page_ms, threads, ..opts.clone() };
        assert!(FloorServer::start(bad).is_err(), "page_ms {page_ms}, threads {threads}");
    }
}

/// 20 ms pages: numbered and timed consecutively too.
fn check_audio_only(r: &Received) {
    assert!(r.pages.len() >= 2 + 5, "{} pages", r.pages.len());
    for w in r.pages[2..].windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence + 1);
        assert_eq!(w[1].granule, w[0].granule + 960);
    }
}
