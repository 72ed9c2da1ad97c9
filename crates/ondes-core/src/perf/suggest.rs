//! What to do about a slow, failing or timing-out operation, in plain words.
//!
//! One table per problem, keyed by operation name; names without an entry (an
//! application's own spans) get generic advice.

use serde::Serialize;

/// The kind of problem a suggestion addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Over its threshold (level SLOW or BOTTLENECK, or slow in a row).
    Slow,
    /// Getting slower (recent window against the longer one).
    Degrading,
    /// Too many timeouts.
    Timeouts,
    /// Success rate too low.
    Failures,
}

/// Advice for `op` with `problem`, most useful first.
pub fn suggestions(op: &str, problem: Problem) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    match problem {
        Problem::Slow | Problem::Degrading => out.extend(slow(op).iter().map(|s| s.to_string())),
        Problem::Timeouts => out.extend(timeouts(op).iter().map(|s| s.to_string())),
        Problem::Failures => out.extend(failures(op).iter().map(|s| s.to_string())),
    }
    if problem == Problem::Degrading {
        out.insert(
            0,
            format!(
                "{op} is getting slower than it was: look for what changed (load, listeners, input size, \
                 a dependency) and for resource exhaustion (CPU, memory, connection pools)"
            ),
        );
    }
    if out.is_empty() {
        out.push(match problem {
            Problem::Slow | Problem::Degrading => format!(
                "profile {op}, and check its threshold (perf.thresholds.{op}) matches what it is expected to take"
            ),
            Problem::Timeouts => {
                format!("{op} times out: check what it waits on, and retry with backoff or fall back")
            }
            Problem::Failures => format!("{op} fails often: check its error logs; retry transient errors"),
        });
    }
    out
}

fn slow(op: &str) -> &'static [&'static str] {
    match op {
        "capture" => &[
            "use a larger device period/buffer and a dedicated high-priority capture thread",
            "check for CPU contention on the capture machine",
        ],
        "decode" => &[
            "decode ahead of real time in the source thread, or convert the file to WAV/FLAC (cheaper than MP3/Vorbis)",
        ],
        "resample" => {
            &["produce audio at the stream's sample rate to skip resampling, or lower the resampler quality"]
        }
        "encode" => &[
            "lower the Opus complexity (e.g. 5 instead of 10)",
            "use fewer quality rungs: each active rung runs its own encoder",
        ],
        "fanout" => &[
            "use a larger batch: more frames per message (max_fps on SSE, frames per WebSocket message)",
            "move listeners to a lighter format (pcm16 or lightweight), or spread them over more servers",
        ],
        "send" => &[
            "listeners or their networks do not keep up: check listener lag and bandwidth in /api/audio/stats",
            "offer a lower-bitrate rung for slow links",
        ],
        "receive" => &[
            "check RTT, jitter and loss to the listeners with `ondes probe`",
            "use a lower-bitrate rung, or a server closer to the listeners",
        ],
        "playout" => &[
            "the client's jitter buffer is deep: check network jitter with `ondes probe`",
            "lower the jitter buffer's maximum target if the network allows",
        ],
        "stt_processing" => &[
            "use streaming STT with partial results instead of whole utterances",
            "send shorter audio chunks and skip silence with VAD",
            "use a smaller or faster STT model",
        ],
        "audio_chunk" => {
            &["process audio in smaller chunks and avoid copies or format conversions per chunk"]
        }
        "network_request" => &[
            "check RTT and loss with `ondes probe`",
            "reuse connections (keep-alive, HTTP/2) and call a region closer to you",
        ],
        "tts_synthesis" => &[
            "stream TTS in smaller chunks (sentence by sentence) and start playback on the first chunk",
            "cache the audio of frequent phrases",
        ],
        "tts_chunk" => &[
            "request smaller TTS chunks",
            "start synthesis on the first LLM sentence instead of the full response",
        ],
        "audio_conversion" => &["produce audio in the stream's sample rate and format to avoid conversions"],
        "llm_response" => &[
            "use streaming responses and start TTS on the first sentence",
            "use a smaller or faster model, or shorter prompts and outputs",
        ],
        "llm_api_call" => &[
            "shorten the prompt (fewer tokens in, fewer out) or use a faster model tier",
            "call a closer region; check the network with `ondes probe`",
        ],
        "cache_lookup" => {
            &["use an in-process cache in front of the remote one, and check the cache server's latency"]
        }
        "end_to_end" | "voice_to_voice" => &[
            "fix the slowest stage of this report first (see bottlenecks)",
            "overlap stages by streaming: STT partials → LLM streaming → TTS chunks → playout",
        ],
        _ => &[],
    }
}

fn timeouts(op: &str) -> &'static [&'static str] {
    match op {
        "network_request" | "llm_api_call" | "receive" => &[
            "check RTT and loss with `ondes probe`",
            "set a client deadline below the threshold × 3 and retry once with backoff",
        ],
        "stt_processing" | "tts_synthesis" | "llm_response" => &[
            "set a deadline and fall back (a cached phrase, a shorter answer, a smaller model) when it passes",
            "check the provider's status and your rate limits",
        ],
        "send" | "fanout" => {
            &["listeners stall the writes: check listener lag; slow listeners are skipped to live"]
        }
        _ => &[],
    }
}

fn failures(op: &str) -> &'static [&'static str] {
    match op {
        "network_request" | "llm_api_call" => &[
            "check connectivity, credentials and rate limits; retry transient errors with backoff",
            "check loss with `ondes probe`",
        ],
        "stt_processing" | "tts_synthesis" | "tts_chunk" | "llm_response" => {
            &["check the provider's error responses (quota, rate limit, bad input) and retry transient ones"]
        }
        "decode" | "audio_conversion" | "audio_chunk" => {
            &["check the input format: sample rate, channels and codec must match what is expected"]
        }
        "send" => &["clients disconnect while being written to: check their logs and network"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_operations_get_specific_advice() {
        assert!(suggestions("encode", Problem::Slow).iter().any(|s| s.contains("complexity")));
        assert!(suggestions("encode", Problem::Slow).iter().any(|s| s.contains("rungs")));
        assert!(suggestions("fanout", Problem::Slow).iter().any(|s| s.contains("larger batch")));
        assert!(suggestions("network_request", Problem::Slow).iter().any(|s| s.contains("ondes probe")));
        assert!(suggestions("tts_synthesis", Problem::Slow).iter().any(|s| s.contains("smaller chunks")));
        assert!(suggestions("llm_response", Problem::Slow).iter().any(|s| s.contains("streaming")));
    }

    #[test]
    fn every_problem_has_some_advice_for_any_name() {
        for p in [Problem::Slow, Problem::Degrading, Problem::Timeouts, Problem::Failures] {
            let s = suggestions("my_own_op", p);
            assert!(!s.is_empty());
            assert!(s[0].contains("my_own_op"), "{s:?}");
        }
        assert!(suggestions("encode", Problem::Degrading)[0].contains("getting slower"));
    }
}
