//! WHEP framing: one Opus packet per message, at the listener's rung.
//!
//! What is the same for every WebRTC listener of a (stream, rung) — the Opus packet — is
//! the hub's own `Bytes` ([`HubFrame::opus_packet`]): this transport hands it on without a
//! copy. The RTP header, SRTP and the socket send are per listener, in [`crate::webrtc`]
//! (str0m does them). Notices are JSON text (the WebSocket listener's status messages,
//! docs/protocol.md), sent on the peer's data channel when its offer opened one, and
//! dropped otherwise.

use std::sync::Arc;

use bytes::Bytes;
use ondes_core::egress::Framer;
use ondes_core::proto::control::{ErrorMessage, Rung as RungMessage, Status, ToListener};
use ondes_core::quality::QualityCap;

use super::session::{SessionNotice, Transport};
use super::ws::{RungChoice, effective_rung, legacy_rung};
use crate::hub::{DeliveryPolicy, HubFrame, RungUse, StreamHub};
use ondes_core::abr::{Arm, Canary};

/// One WHEP listener's framing and rung.
pub struct WhepTransport {
    hub: Arc<StreamHub>,
    choice: RungChoice,
    /// The Opus rung sent now (a WHEP stream always has one: the route refuses others).
    pub rung: usize,
    quality: QualityCap,
    /// The delivery group of a `rung=auto` listener: a legacy one stays on the legacy rung,
    /// whatever the bandwidth estimate says.
    arm: Option<Arm>,
    /// `[abr.legacy] rung_kbps`.
    legacy_kbps: u32,
    /// Frames that had no packet at the listener's rung (the rung was just starting).
    pub missing_packets: u64,
    /// Keeps every rung this listener may use encoding while it is connected.
    _rungs: Vec<RungUse>,
}

impl WhepTransport {
    /// A transport for `choice` (never [`RungChoice::Pcm16`]: WebRTC audio is Opus), or `None`
    /// when the stream has no Opus ladder.
    /// `legacy_kbps` is `[abr.legacy] rung_kbps`.
    pub fn new(hub: Arc<StreamHub>, choice: RungChoice, legacy_kbps: u32) -> Option<Self> {
        let quality = hub.control().quality;
        let mut rung = effective_rung(&hub, choice, quality)?;
        let arm = (choice == RungChoice::Auto).then(|| hub.assign_arm());
        if arm == Some(Arm::Legacy) {
            rung = legacy_rung(&hub, quality, legacy_kbps)?;
        }
        let rungs = match choice {
            RungChoice::Opus(i) => hub.use_rung(i).into_iter().collect(),
            _ => (0..hub.ladder.rungs.len()).filter_map(|i| hub.use_rung(i)).collect(),
        };
        Some(WhepTransport {
            hub,
            choice,
            rung,
            quality,
            arm,
            legacy_kbps,
            missing_packets: 0,
            _rungs: rungs,
        })
    }

    /// Moves to rung `idx` (the bandwidth estimate's choice) within the quality cap.
    /// Returns the `rung` message to tell the listener (`code` and `reason` of the
    /// decision), when it changed.
    pub fn switch_to(&mut self, idx: usize, code: &str, reason: &str) -> Option<Bytes> {
        let cap = effective_rung(&self.hub, RungChoice::Auto, self.quality).unwrap_or(0);
        let idx = idx.min(cap);
        if idx == self.rung || !self.is_adaptive() {
            return None;
        }
        self.rung = idx;
        Some(rung_message(&self.hub, idx, Some(code), reason))
    }

    /// Whether the listener's rung follows its bandwidth estimate (`rung=auto`, adaptive
    /// delivery).
    pub fn is_adaptive(&self) -> bool {
        self.choice == RungChoice::Auto && self.arm != Some(Arm::Legacy)
    }

    /// The stream this transport frames.
    pub fn hub(&self) -> &Arc<StreamHub> {
        &self.hub
    }
}

fn rung_message(hub: &StreamHub, idx: usize, code: Option<&str>, reason: &str) -> Bytes {
    to_bytes(&ToListener::Rung(RungMessage {
        rung: hub.ladder.rungs[idx].kbps.to_string(),
        profile: None,
        batch: None,
        jitter_target_ms: None,
        jitter: None,
        direction: None,
        code: code.map(str::to_string),
        reason: reason.to_string(),
    }))
}

/// A message's JSON text (serialising our own types cannot fail).
fn to_bytes(m: &ToListener) -> Bytes {
    Bytes::from(serde_json::to_vec(m).unwrap_or_default())
}

impl Framer<Arc<HubFrame>> for WhepTransport {
    type Bytes = Bytes;

    /// The packet sent (the last frame's: one frame per message).
    fn payload_bytes(&self, frames: &[Arc<HubFrame>]) -> u64 {
        HubFrame::opus_bytes(&frames[frames.len() - 1..], self.rung)
    }

    /// The frame's Opus packet (sessions run with one frame per message); empty when the
    /// rung had no packet for it (nothing is sent; the receiver conceals it).
    fn audio(&mut self, frames: &[Arc<HubFrame>]) -> Bytes {
        let f = &frames[frames.len() - 1];
        match f.opus_packet(self.rung) {
            Some(p) => p.clone(),
            None => {
                self.missing_packets += 1;
                Bytes::new()
            }
        }
    }
}

impl Transport for WhepTransport {
    fn batch(&self) -> Option<u64> {
        Some(1)
    }

    fn notice(&mut self, _hub: &StreamHub, notice: &SessionNotice) -> Option<Bytes> {
        let m = match notice {
            SessionNotice::Paused => ToListener::Status(Status::Paused),
            SessionNotice::Resumed { .. } => ToListener::Status(Status::Resumed {
                skipped_while_paused: None,
                from_frame: None,
                missed_frames: None,
            }),
            SessionNotice::SourceLost => ToListener::Status(Status::SourceLost),
            SessionNotice::SourceRestored => ToListener::Status(Status::SourceRestored),
            SessionNotice::UtteranceStart { id } => ToListener::Status(Status::UtteranceStart { id: *id }),
            SessionNotice::UtteranceEnd { id, interrupted } => {
                ToListener::Status(Status::UtteranceEnd { id: *id, interrupted: *interrupted })
            }
            SessionNotice::SourceGap { from_frame, missed_frames } => ToListener::Status(Status::Gap {
                from_frame: *from_frame,
                missed_frames: Some(*missed_frames),
                message: crate::egress::SOURCE_GAP_MESSAGE.into(),
            }),
            SessionNotice::Quality(_) | SessionNotice::ResumeOutcome { .. } => return None,
            SessionNotice::Lagged { skipped_frames } => {
                ToListener::Status(Status::Lagged { skipped_frames: *skipped_frames, message: None })
            }
            SessionNotice::Ended(message) => {
                ToListener::Error(ErrorMessage::new(ErrorMessage::STREAM_ENDED, message.clone()))
            }
            SessionNotice::ShuttingDown => ToListener::Error(ErrorMessage::new(
                ErrorMessage::SHUTTING_DOWN,
                "the server is shutting down",
            )),
        };
        Some(to_bytes(&m))
    }

    fn set_delivery(&mut self, hub: &StreamHub, policy: &DeliveryPolicy) -> Option<Bytes> {
        let arm = self.arm.map(|a| Canary::arm_after_mode_change(policy.mode, a));
        if arm == self.arm {
            return None;
        }
        self.arm = arm;
        if arm != Some(Arm::Legacy) {
            // adaptive again: the bandwidth estimate moves the rung from here
            return None;
        }
        let rung = legacy_rung(hub, self.quality, self.legacy_kbps)?;
        if rung == self.rung {
            return None;
        }
        self.rung = rung;
        Some(rung_message(hub, rung, Some("delivery_mode"), "stream delivery set to legacy"))
    }

    fn set_quality(&mut self, hub: &StreamHub, quality: QualityCap) -> Option<Bytes> {
        if quality == self.quality {
            return None;
        }
        self.quality = quality;
        let rung = match self.arm {
            Some(Arm::Legacy) => legacy_rung(hub, quality, self.legacy_kbps)?,
            _ => effective_rung(hub, self.choice, quality)?,
        };
        if rung == self.rung {
            return None;
        }
        self.rung = rung;
        Some(rung_message(hub, rung, None, &format!("stream quality set to {quality}")))
    }
}
