//! `file:PATH`: an audio file decoded, remixed and resampled to the stream by
//! [`ondes_codec::FileDecoder`].

use std::path::Path;

use ondes_codec::FileDecoder;

use super::{FrameSource, Layout, SourceError};

pub struct FileSource {
    decoder: FileDecoder,
    layout: Layout,
    ended: bool,
}

impl FileSource {
    pub fn open(path: &Path, layout: Layout) -> Result<Self, SourceError> {
        let decoder = FileDecoder::open(path, layout.sample_rate, layout.channels)?;
        Ok(FileSource { decoder, layout, ended: false })
    }
}

impl FrameSource for FileSource {
    fn next_frame(&mut self) -> Result<Option<Vec<f32>>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        let want = self.layout.samples_per_channel();
        let mut frame = Vec::with_capacity(self.layout.samples_per_frame());
        let got = self.decoder.read(want, &mut frame)?;
        if got < want {
            self.ended = true;
            if got == 0 {
                return Ok(None);
            }
            frame.resize(self.layout.samples_per_frame(), 0.0);
        }
        Ok(Some(frame))
    }
}
