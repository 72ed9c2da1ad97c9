mod common;
use common::*;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let s = start("[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n[[stream]]\nid = \"radio\"\nsource = \"icecast\"\nsource_password = \"hackme\"\nchannels = 1\nrungs = \"64\"\n").await;
    let addr = s.addr;
    let mut sse = Sse::open(&format!("{}/api/streams/radio/stream?max_fps=5", s.url()), &[]).await;
    sse.next_of("status", 5.0).await;
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("ffmpeg").args(["-hide_banner","-loglevel","verbose","-re","-f","lavfi","-i","aevalsrc=0.5*sin(2*PI*(200*t+150*t*t)):s=48000:d=3","-c:a","libopus","-b:a","96k","-f","ogg","-content_type","audio/ogg","-ice_name", "Test Radio", "-ice_genre", "testing", "-ice_description", "a chirp", &format!("icecast://source:hackme@{addr}/radio")]).output().unwrap()).await.unwrap();
    println!("{}", String::from_utf8_lossy(&out.stderr));
    let (_, v) = get_json(&format!("{}/status-json.xsl", s.url()), None).await;
    println!("{v}");
}
