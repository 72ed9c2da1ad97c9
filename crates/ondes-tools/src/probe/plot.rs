//! A small SVG plot: latency per frame over time, with lost frames marked.

use std::fmt::Write;

/// `points`: (seconds since start, latency ms); `losses`: seconds at which frames went missing.
pub fn svg(points: &[(f64, f64)], losses: &[f64], title: &str) -> String {
    let (w, h, pad) = (900.0, 300.0, 50.0);
    let t_max = points.iter().map(|p| p.0).chain(losses.iter().copied()).fold(1.0, f64::max);
    let l_max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let x = |t: f64| pad + t / t_max * (w - 2.0 * pad);
    let y = |l: f64| h - pad - l / l_max * (h - 2.0 * pad);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{pad}" y="20" font-size="14">{title}</text><line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="#444"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}" stroke="#444"/><text x="{r}" y="{tb}" text-anchor="end">time (s), max {t_max:.1}</text><text x="5" y="{pad}" >{l_max:.0} ms</text><text x="5" y="{b}">0</text>"##,
        b = h - pad,
        r = w - pad,
        tb = h - pad + 30.0,
    );
    let mut path = String::new();
    for (i, (t, l)) in points.iter().enumerate() {
        let _ = write!(path, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(*t), y(*l));
    }
    let _ = write!(s, r##"<path d="{path}" fill="none" stroke="#1f6feb" stroke-width="1"/>"##);
    for t in losses {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" y1="{pad}" x2="{0:.1}" y2="{1}" stroke="#d1242f" stroke-opacity="0.5"/>"##,
            x(*t),
            h - pad
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="40" fill="#1f6feb">latency (capture → arrival)</text><text x="{}" y="40" fill="#d1242f">| missing frames</text></svg>"##,
        pad + 10.0,
        pad + 220.0
    );
    s
}
