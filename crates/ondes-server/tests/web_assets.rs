//! The embedded dashboard: `/` and the static files, their types and caching, over real HTTP.
//! (The dashboard's behaviour in a browser is tested by `web/tests/`, see scripts/test.sh.)

mod common;

use common::*;

#[tokio::test]
async fn index_and_assets_are_served_with_types_and_revalidation() {
    let s = start("").await;
    let http = client();

    let r = http.get(format!("{}/", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let body = r.text().await.unwrap();
    assert!(body.contains("<title>ondes dashboard</title>"), "{body}");
    assert!(body.contains("/app.js"));

    for (path, ty) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/client.js", "text/javascript; charset=utf-8"),
        ("/player.js", "text/javascript; charset=utf-8"),
        ("/worklet.js", "text/javascript; charset=utf-8"),
        ("/jitter-buffer.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let r = http.get(format!("{}{path}", s.url())).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ty, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        assert!(!r.bytes().await.unwrap().is_empty(), "{path}");
        // revalidation: same ETag → 304 without a body
        let r = http.get(format!("{}{path}", s.url())).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(r.status(), 304, "{path}");
        assert!(r.bytes().await.unwrap().is_empty());
    }

    // compressed when the browser accepts it
    let r = http.get(format!("{}/app.js", s.url())).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");

    // unknown paths keep the API's JSON 404 (whichever route answers it); the API is untouched
    let (st, b) = get_json(&format!("{}/nope.js", s.url()), None).await;
    assert_eq!(st, 404);
    assert!(b["error"].is_string(), "{b}");
    let (st, b) = get_json(&format!("{}/api/streams", s.url()), None).await;
    assert_eq!(st, 200);
    assert_eq!(b["streams"][0]["id"], "main");
    // files that are not part of the site (tests, package.json) are not served
    for path in ["/package.json", "/tests/helpers.mjs", "/node_modules/playwright-core/package.json"] {
        let r = http.get(format!("{}{path}", s.url())).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    s.shutdown().await;
}
