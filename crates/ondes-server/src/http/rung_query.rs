//! `rung=` and `quality=`: which rung a listener asked for, parsed the same way for every
//! transport that offers a choice (WebSocket, WebRTC, Icecast-style HTTP, HLS paths).
//!
//! `rung=auto|pcm16|<kbps>` names a rung of the stream's own ladder; `quality=low|medium|
//! high|lossless` names a level that maps onto any ladder ([`QualityLevel`]). Giving both is
//! an error rather than a guess. What a transport cannot carry (PCM over WebRTC, lossless
//! over Ogg/Opus) is refused by name, with where to get it instead.

use axum::http::StatusCode;
use ondes_core::quality::QualityLevel;

use crate::egress::ws::RungChoice;
use crate::http::QueryMap;
use crate::http::error::ApiError;
use crate::hub::StreamHub;

/// What a transport carries besides its stream's Opus rungs.
#[derive(Debug, Clone, Copy)]
pub struct RungOffer {
    /// The transport's name in messages ("WebSocket", "WebRTC" …).
    pub transport: &'static str,
    /// It carries 16-bit PCM (`rung=pcm16`), which is also its `lossless`.
    pub pcm: bool,
    /// Where this stream's lossless audio is, for a transport without it (e.g. "/{id}.flac").
    pub lossless_elsewhere: Option<&'static str>,
}

/// The listener's choice from `rung=` or `quality=` (neither: `auto`).
pub fn rung_choice(hub: &StreamHub, q: &QueryMap, offer: RungOffer) -> Result<RungChoice, ApiError> {
    match (q.0.get("rung"), q.0.get("quality")) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "rung_and_quality",
            "give rung= (a bitrate of this stream) or quality= (low, medium, high, lossless), not both",
        )),
        (None, Some(level)) => level_choice(hub, level, offer),
        (rung, None) => named_rung(hub, rung.map_or("auto", String::as_str), offer),
    }
}

fn level_choice(hub: &StreamHub, level: &str, offer: RungOffer) -> Result<RungChoice, ApiError> {
    let level: QualityLevel =
        level.parse().map_err(|e| ApiError::bad_request("bad_quality", format!("{e}")))?;
    if level == QualityLevel::Lossless {
        if offer.pcm {
            return Ok(RungChoice::Pcm16);
        }
        let elsewhere = match offer.lossless_elsewhere {
            Some(path) => format!("; ask {} for it", path.replace("{id}", &hub.id)),
            None => String::new(),
        };
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "lossless_not_offered",
            format!(
                "{} carries Opus only, so quality=lossless is not offered here; use high{elsewhere}",
                offer.transport
            ),
        ));
    }
    // no ladder (a rate Opus cannot code): the transport's default, PCM where it has it
    Ok(level.rung_index(&hub.ladder.kbps()).map_or(RungChoice::Auto, RungChoice::Opus))
}

fn named_rung(hub: &StreamHub, rung: &str, offer: RungOffer) -> Result<RungChoice, ApiError> {
    match rung {
        "auto" => Ok(RungChoice::Auto),
        "pcm16" | "pcm" if offer.pcm => Ok(RungChoice::Pcm16),
        other => other.parse::<u32>().ok().and_then(|k| hub.ladder.index_of(k)).map(RungChoice::Opus).ok_or_else(
            || {
                let mut names = vec!["auto".to_string()];
                if offer.pcm {
                    names.push("pcm16".into());
                }
                names.extend(hub.ladder.kbps().iter().map(|k| k.to_string()));
                ApiError::bad_request(
                    "bad_rung",
                    format!(
                        "rung '{other}' is not offered over {}; use one of: {} (or quality=low|medium|high|lossless)",
                        offer.transport,
                        names.join(", ")
                    ),
                )
            },
        ),
    }
}
