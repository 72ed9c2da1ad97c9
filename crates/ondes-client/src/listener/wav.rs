//! A streaming 16-bit PCM WAV writer.
//!
//! The header is written first with "unknown" sizes (0xFFFFFFFF, which ffmpeg and sox read
//! as "until the end of the file"), so that a listen cut short still leaves a playable
//! file; [`WavWriter::finish`] then writes the real sizes.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

pub struct WavWriter {
    file: BufWriter<File>,
    data_bytes: u64,
    scratch: Vec<u8>,
}

impl WavWriter {
    pub fn create(path: &Path, sample_rate: u32, channels: u16) -> std::io::Result<Self> {
        let mut file = BufWriter::new(File::create(path)?);
        let block_align = channels * 2;
        let mut h = Vec::with_capacity(44);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes()); // PCM
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&sample_rate.to_le_bytes());
        h.extend_from_slice(&(sample_rate * u32::from(block_align)).to_le_bytes());
        h.extend_from_slice(&block_align.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        file.write_all(&h)?;
        Ok(WavWriter { file, data_bytes: 0, scratch: Vec::new() })
    }

    /// Appends interleaved samples (as s16, the same conversion as ondes's PCM rung, so
    /// s16 audio passes through bit-exact).
    pub fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        self.scratch.clear();
        ondes_codec::encode_s16le(samples, &mut self.scratch);
        self.file.write_all(&self.scratch)?;
        self.data_bytes += self.scratch.len() as u64;
        Ok(())
    }

    /// Writes the sizes into the header and closes the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        // beyond 4 GiB the sizes cannot be written: they stay "unknown"
        if let Ok(data) = u32::try_from(self.data_bytes)
            && data <= u32::MAX - 36
        {
            self.file.seek(SeekFrom::Start(4))?;
            self.file.write_all(&(36 + data).to_le_bytes())?;
            self.file.seek(SeekFrom::Start(40))?;
            self.file.write_all(&data.to_le_bytes())?;
        }
        self.file.flush()?;
        self.file.get_ref().sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_canonical_header() {
        let path = std::env::temp_dir().join(format!("ondes-wav-{}.wav", std::process::id()));
        let mut w = WavWriter::create(&path, 48_000, 2).unwrap();
        w.write(&[0.5, -0.5, 0.0, 1.0]).unwrap();
        w.finish().unwrap();
        let b = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(b.len(), 44 + 8);
        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 44);
        assert_eq!(u16::from_le_bytes(b[22..24].try_into().unwrap()), 2);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 48_000);
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 192_000);
        assert_eq!(u32::from_le_bytes(b[40..44].try_into().unwrap()), 8);
        assert_eq!(i16::from_le_bytes([b[44], b[45]]), 16384);
        assert_eq!(i16::from_le_bytes([b[50], b[51]]), 32767);
    }
}
