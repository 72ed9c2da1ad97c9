//! Compiles the bundled libopus (float build) with the `cc` crate.
//!
//! Why not a `-sys` crate from the registry: every maintained one (opusic-sys, libopus_sys,
//! audiopus_sys, opus-static-sys) builds libopus with CMake or links a system `libopus-dev`,
//! and ondes must build on a fresh machine that has a C compiler and nothing else. The list of
//! sources comes from libopus's own `*_sources.mk` files, so updating the bundled copy needs
//! no change here.
//!
//! On x86-64, SSE and SSE2 are part of the baseline and used unconditionally; the SSE4.1 and
//! AVX2 kernels are compiled with their own flags and picked at run time by libopus's CPU
//! detection (`OPUS_HAVE_RTCD`), as distribution builds of libopus do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The `NAME = a.c b.c ...` lists of one of libopus's `.mk` files.
fn source_lists(mk: &Path) -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(mk).unwrap_or_else(|e| panic!("read {}: {e}", mk.display()));
    let joined = text.replace("\\\n", " ");
    let mut lists = HashMap::new();
    for line in joined.lines() {
        if let Some((name, files)) = line.split_once('=') {
            let files = files.split_whitespace().filter(|f| f.ends_with(".c")).map(str::to_owned).collect();
            lists.insert(name.trim().to_owned(), files);
        }
    }
    lists
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("libopus");
    let mut lists = HashMap::new();
    for mk in ["celt_sources.mk", "silk_sources.mk", "opus_sources.mk"] {
        lists.extend(source_lists(&root.join(mk)));
        println!("cargo:rerun-if-changed=libopus/{mk}");
    }
    let list = |name: &str| -> Vec<PathBuf> {
        lists
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from libopus's .mk files"))
            .iter()
            .map(|f| root.join(f))
            .collect()
    };
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64");

    let base = || {
        let mut b = cc::Build::new();
        b.include(&root)
            .include(root.join("include"))
            .include(root.join("celt"))
            .include(root.join("silk"))
            .include(root.join("silk/float"))
            .include(root.join("src"))
            .define("OPUS_BUILD", None)
            .define("USE_ALLOCA", None)
            .define("HAVE_LRINT", "1")
            .define("HAVE_LRINTF", "1")
            // bounds checks libopus keeps in release builds since 1.5 (its CMake default)
            .define("ENABLE_HARDENING", None)
            .define("PACKAGE_VERSION", "\"1.6.1\"")
            .opt_level(2)
            .warnings(false);
        if x86_64 {
            b.define("OPUS_X86_MAY_HAVE_SSE", "1")
                .define("OPUS_X86_MAY_HAVE_SSE2", "1")
                .define("OPUS_X86_PRESUME_SSE", "1")
                .define("OPUS_X86_PRESUME_SSE2", "1")
                .define("OPUS_X86_MAY_HAVE_SSE4_1", "1")
                .define("OPUS_X86_MAY_HAVE_AVX2", "1")
                .define("OPUS_HAVE_RTCD", "1")
                .define("CPU_INFO_BY_C", None);
        }
        b
    };

    let mut files = Vec::new();
    let mut objects = Vec::new();
    for name in ["CELT_SOURCES", "SILK_SOURCES", "SILK_SOURCES_FLOAT", "OPUS_SOURCES", "OPUS_SOURCES_FLOAT"] {
        files.extend(list(name));
    }
    if x86_64 {
        for name in
            ["CELT_SOURCES_X86_RTCD", "SILK_SOURCES_X86_RTCD", "CELT_SOURCES_SSE", "CELT_SOURCES_SSE2"]
        {
            files.extend(list(name));
        }
        let mut sse41 = base();
        sse41.flag("-msse4.1").files(list("CELT_SOURCES_SSE4_1")).files(list("SILK_SOURCES_SSE4_1"));
        objects.extend(sse41.compile_intermediates());
        let mut avx2 = base();
        avx2.flag("-mavx").flag("-mfma").flag("-mavx2");
        avx2.files(list("CELT_SOURCES_AVX2"))
            .files(list("SILK_SOURCES_AVX2"))
            .files(list("SILK_SOURCES_FLOAT_AVX2"));
        objects.extend(avx2.compile_intermediates());
    }
    // One archive with every object, so the dispatch tables find the SIMD kernels whatever
    // order the linker reads archives in.
    base().files(files).objects(objects).compile("opus");
    println!("cargo:rerun-if-changed=libopus");
    println!("cargo:include={}", root.join("include").display());
}
