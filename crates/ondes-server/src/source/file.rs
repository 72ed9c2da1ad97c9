//! `file:` source: decoded with symphonia, resampled/remixed to the stream's layout.

use std::path::Path;

use ondes_codec::FileDecoder;
use ondes_core::FrameSpec;

use super::{Fill, PcmSource, SourceError};

pub struct FileSource {
    decoder: FileDecoder,
    looped: bool,
    path: String,
    channels: usize,
    loops: u64,
}

impl FileSource {
    /// Opens and probes the file now, so that a bad file fails at start-up with its name.
    pub fn open(path: &Path, looped: bool, spec: &FrameSpec) -> Result<Self, SourceError> {
        let decoder = FileDecoder::open(path, spec.sample_rate, spec.channels)?;
        Ok(FileSource {
            decoder,
            looped,
            path: path.display().to_string(),
            channels: spec.channels as usize,
            loops: 0,
        })
    }
}

impl PcmSource for FileSource {
    fn fill(&mut self, out: &mut Vec<f32>, samples_per_frame: usize) -> Result<Fill, SourceError> {
        let want = samples_per_frame / self.channels;
        let start = out.len();
        let mut got = 0;
        let mut rewound_empty = false;
        while got < want {
            let n = self.decoder.read(want - got, out)?;
            if n == 0 {
                if !self.looped || rewound_empty {
                    break;
                }
                self.decoder.rewind()?;
                self.loops += 1;
                // a file that yields nothing even after rewinding must not spin forever
                rewound_empty = got == 0 && out.len() == start;
                continue;
            }
            got += n;
        }
        if got == 0 {
            return Ok(Fill::End);
        }
        // pad the last partial frame with silence so every frame has the same length
        out.resize(start + samples_per_frame, 0.0);
        Ok(if got < want { Fill::End } else { Fill::Frame })
    }

    fn describe(&self) -> String {
        format!("file {}{}", self.path, if self.looped { " (looped)" } else { "" })
    }
}
