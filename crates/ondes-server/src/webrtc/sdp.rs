//! Checks of an SDP offer before it reaches str0m, so that a peer learns what to fix:
//! an offer with no audio, or audio without Opus, gets a clear refusal instead of an answer
//! that rejects the m-line.

use super::WebRtcError;

/// What an offer's audio section allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioOffer {
    /// The offer has a data channel (`m=application … webrtc-datachannel`).
    pub data_channel: bool,
    /// The offer lists RED (`red/48000/2`) beside Opus.
    pub red: bool,
    /// Opus in-band FEC is offered (`useinbandfec=1`).
    pub fec: bool,
}

/// Checks that `sdp` has an audio m-line offering Opus.
pub fn check_offer(sdp: &str) -> Result<AudioOffer, WebRtcError> {
    if !sdp.trim_start().starts_with("v=0") {
        return Err(WebRtcError::BadSdp("an SDP offer starts with 'v=0'".into()));
    }
    let mut audio_lines = 0usize;
    let mut opus_pts: Vec<String> = Vec::new();
    let mut red = false;
    let mut fec = false;
    let mut data_channel = false;
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            in_audio = m.starts_with("audio ");
            if in_audio {
                audio_lines += 1;
            }
            if m.starts_with("application ") && m.contains("webrtc-datachannel") {
                data_channel = true;
            }
            continue;
        }
        if !in_audio {
            continue;
        }
        if let Some(map) = line.strip_prefix("a=rtpmap:") {
            let mut it = map.splitn(2, ' ');
            let (pt, codec) = (it.next().unwrap_or(""), it.next().unwrap_or("").to_ascii_lowercase());
            if codec.starts_with("opus/48000") {
                opus_pts.push(pt.to_string());
            } else if codec.starts_with("red/48000") {
                red = true;
            }
        } else if let Some(fmtp) = line.strip_prefix("a=fmtp:") {
            let pt = fmtp.split(' ').next().unwrap_or("");
            if opus_pts.iter().any(|p| p == pt) && fmtp.contains("useinbandfec=1") {
                fec = true;
            }
        }
    }
    if audio_lines == 0 {
        return Err(WebRtcError::NoAudio);
    }
    if opus_pts.is_empty() {
        return Err(WebRtcError::NoOpus);
    }
    Ok(AudioOffer { data_channel, red, fec })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_LIKE: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\nc=IN IP4 0.0.0.0\r\n\
        a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
        a=rtpmap:63 red/48000/2\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";

    #[test]
    fn an_offer_with_opus_red_fec_and_a_data_channel_is_read() {
        let a = check_offer(CHROME_LIKE).unwrap();
        assert_eq!(a, AudioOffer { data_channel: true, red: true, fec: true });
    }

    #[test]
    fn offers_without_audio_or_opus_or_sdp_are_refused_with_the_reason() {
        assert!(matches!(check_offer("hello"), Err(WebRtcError::BadSdp(_))));
        let video = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert!(matches!(check_offer(video), Err(WebRtcError::NoAudio)));
        let pcmu = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
        assert!(matches!(check_offer(pcmu), Err(WebRtcError::NoOpus)));
        // Opus outside the audio section does not count
        let misplaced = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        assert!(matches!(check_offer(misplaced), Err(WebRtcError::NoOpus)));
    }
}
