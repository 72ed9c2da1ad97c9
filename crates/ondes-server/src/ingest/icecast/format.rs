//! What an Icecast source sends: the container from `Content-Type` (or the first bytes), and
//! inside Ogg the codec from the first packet.

use serde::Serialize;

/// The container of a source body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    Ogg,
    Mp3,
    Flac,
}

/// The codec actually decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceCodec {
    Opus,
    Vorbis,
    Flac,
    Mp3,
}

impl SourceCodec {
    pub fn name(self) -> &'static str {
        match self {
            SourceCodec::Opus => "Opus",
            SourceCodec::Vorbis => "Vorbis",
            SourceCodec::Flac => "FLAC",
            SourceCodec::Mp3 => "MP3",
        }
    }
}

/// The list given to a client whose format is refused.
pub const SUPPORTED: &str = "audio/ogg (Opus, Vorbis or FLAC), audio/mpeg (MP3) or audio/flac";

impl BodyFormat {
    /// The format a `Content-Type` announces: `Ok(None)` when there is none (the first bytes
    /// decide), `Err` with the MIME type when it is one we cannot decode.
    pub fn from_content_type(ct: Option<&str>) -> Result<Option<BodyFormat>, String> {
        let Some(ct) = ct else { return Ok(None) };
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        Ok(Some(match mime.as_str() {
            "" | "application/octet-stream" => return Ok(None),
            "audio/ogg" | "application/ogg" | "audio/opus" | "audio/vorbis" | "audio/x-vorbis+ogg"
            | "audio/x-ogg" => BodyFormat::Ogg,
            "audio/mpeg" | "audio/mp3" | "audio/x-mpeg" | "audio/mpeg3" | "audio/x-mp3" => BodyFormat::Mp3,
            "audio/flac" | "audio/x-flac" => BodyFormat::Flac,
            _ => return Err(mime),
        }))
    }

    /// The format recognised from the first bytes of a body.
    pub fn sniff(head: &[u8]) -> Option<BodyFormat> {
        if head.starts_with(b"OggS") {
            Some(BodyFormat::Ogg)
        } else if head.starts_with(b"fLaC") {
            Some(BodyFormat::Flac)
        } else if head.starts_with(b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
            Some(BodyFormat::Mp3)
        } else {
            None
        }
    }
}

/// What the first packet of an Ogg stream says about its codec: `Ok(None)` while more bytes
/// are needed, `Err` with a description for codecs we cannot decode.
pub fn ogg_codec(head: &[u8]) -> Result<Option<SourceCodec>, String> {
    if head.len() < 27 {
        return Ok(None);
    }
    if !head.starts_with(b"OggS") {
        return Err("the body does not start with an Ogg page".into());
    }
    let at = 27 + usize::from(head[26]);
    let Some(packet) = head.get(at..at + 8) else { return Ok(None) };
    Ok(Some(if packet.starts_with(b"OpusHead") {
        SourceCodec::Opus
    } else if packet.starts_with(b"\x01vorbis") {
        SourceCodec::Vorbis
    } else if packet.starts_with(b"\x7fFLAC") {
        SourceCodec::Flac
    } else {
        let name = match packet {
            p if p.starts_with(b"Speex") => "Speex".to_string(),
            p if p.starts_with(b"\x80theora") => "Theora (video)".to_string(),
            p => format!("unknown, first packet starts {:02x?}", &p[..8]),
        };
        return Err(format!("Ogg codec {name} is not supported"));
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(BodyFormat::from_content_type(Some("audio/ogg")), Ok(Some(BodyFormat::Ogg)));
        assert_eq!(BodyFormat::from_content_type(Some("Audio/MPEG")), Ok(Some(BodyFormat::Mp3)));
        assert_eq!(BodyFormat::from_content_type(Some("audio/flac")), Ok(Some(BodyFormat::Flac)));
        assert_eq!(BodyFormat::from_content_type(None), Ok(None));
        assert_eq!(BodyFormat::from_content_type(Some("audio/aac")), Err("audio/aac".to_string()));
    }

    #[test]
    fn sniffing_and_ogg_codecs() {
        assert_eq!(BodyFormat::sniff(b"ID3\x04"), Some(BodyFormat::Mp3));
        assert_eq!(BodyFormat::sniff(&[0xFF, 0xFB, 0x90]), Some(BodyFormat::Mp3));
        assert_eq!(BodyFormat::sniff(b"RIFF"), None);
        let mut page = b"OggS".to_vec();
        page.resize(26, 0);
        page.push(1); // one segment
        page.push(19);
        assert_eq!(ogg_codec(&page), Ok(None));
        page.extend_from_slice(b"OpusHead");
        assert_eq!(ogg_codec(&page), Ok(Some(SourceCodec::Opus)));
        page.truncate(28);
        page.extend_from_slice(b"Speex   ");
        assert!(ogg_codec(&page).unwrap_err().contains("Speex"));
        assert!(ogg_codec(&[0u8; 40]).is_err());
    }
}
