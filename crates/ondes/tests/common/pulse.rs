//! A real, paced virtual sound card for the capture tests: a private PulseAudio daemon with a
//! null sink. What is played into the sink (from the daemon's sample cache) comes out of its monitor source in real
//! time, on PulseAudio's clock; ALSA programs (ondes through cpal) read the monitor through
//! ALSA's `pulse` device (Debian's libasound2-plugins) with `PULSE_SOURCE=<sink>.monitor`.
//!
//! Each daemon has its own runtime directory (so tests can run side by side and never touch
//! a desktop's PulseAudio); it runs as root here (the test machines are root), which
//! PulseAudio allows outside `--system` mode with a warning. The daemon is killed when the
//! value is dropped. A missing `pulseaudio` fails the test loudly (scripts/test.sh installs
//! it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SINK: &str = "ondes_test";

pub struct Pulse {
    pub dir: PathBuf,
    daemon: Option<Child>,
    samples: std::sync::atomic::AtomicU32,
}

impl Pulse {
    /// Starts a daemon with a 48 kHz stereo null sink and waits until it answers.
    pub fn start(name: &str) -> Pulse {
        let dir = std::env::temp_dir().join(format!("ondes-pulse-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pulse")).unwrap();
        std::fs::write(
            dir.join("default.pa"),
            format!(
                "load-module module-null-sink sink_name={SINK} rate=48000 channels=2\n\
                 load-module module-native-protocol-unix auth-anonymous=1\n\
                 set-default-sink {SINK}\nset-default-source {SINK}.monitor\n"
            ),
        )
        .unwrap();
        let mut p = Pulse { dir, daemon: None, samples: Default::default() };
        p.launch();
        p
    }

    fn launch(&mut self) {
        let child = Command::new("pulseaudio")
            .args(["--daemonize=no", "--exit-idle-time=-1", "--system=false", "-n", "--use-pid-file=false"])
            .arg("-F")
            .arg(self.dir.join("default.pa"))
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio not found: install pulseaudio (scripts/test.sh does this)");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ok = Command::new("pactl")
                .arg("info")
                .envs(self.env())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("pactl not found: install pulseaudio-utils (scripts/test.sh does this)")
                .success();
            if ok {
                return;
            }
            if let Some(c) = self.daemon.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("pulseaudio exited at start ({status}); runtime dir {}", self.dir.display());
            }
            assert!(Instant::now() < deadline, "pulseaudio did not answer within 15 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The environment that points PulseAudio clients (and ALSA's `pulse` device) here.
    pub fn env(&self) -> Vec<(String, String)> {
        let d = self.dir.display().to_string();
        vec![
            ("XDG_RUNTIME_DIR".into(), d.clone()),
            ("PULSE_RUNTIME_PATH".into(), format!("{d}/pulse")),
            ("PULSE_SERVER".into(), format!("unix:{d}/pulse/native")),
            ("PULSE_STATE_PATH".into(), format!("{d}/state")),
            ("PULSE_COOKIE".into(), format!("{d}/cookie")),
            ("PULSE_SOURCE".into(), format!("{SINK}.monitor")),
            ("PULSE_SINK".into(), SINK.into()),
        ]
    }

    /// Plays a file into the sink from the daemon's own memory: the file is uploaded to the
    /// sample cache and the daemon plays it, so no client has to keep up in real time (a
    /// streaming player such as `paplay` underruns on a loaded machine and punches silence
    /// into the reference signal). Stops when the handle is dropped.
    pub fn play(&self, wav: &std::path::Path) -> Player {
        let name = format!("ref{}", self.samples.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.pactl(&["upload-sample".as_ref(), wav.as_os_str(), name.as_ref()]);
        self.pactl(&["play-sample".as_ref(), name.as_ref(), SINK.as_ref()]);
        Player { env: self.env(), name }
    }

    fn pactl(&self, args: &[&std::ffi::OsStr]) {
        let out = Command::new("pactl")
            .args(args)
            .envs(self.env())
            .output()
            .expect("pactl not found: install pulseaudio-utils (scripts/test.sh does this)");
        assert!(out.status.success(), "pactl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Kills the daemon: the sound card is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the daemon again in the same directory: the sound card is back.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A sample playing in the daemon; dropping it removes the sample, which stops it.
pub struct Player {
    env: Vec<(String, String)>,
    name: String,
}

impl Drop for Player {
    fn drop(&mut self) {
        // best effort: the daemon may already be gone (the device-gone test kills it)
        let _ = Command::new("pactl")
            .args(["remove-sample", &self.name])
            .envs(self.env.clone())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Writes interleaved f32 samples as a 16-bit PCM WAV file.
pub fn write_wav(path: &std::path::Path, rate: u32, channels: u16, samples: &[f32]) {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
    b.extend_from_slice(&(channels * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}
