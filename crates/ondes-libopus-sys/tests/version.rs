//! The bundled library links and is the version this crate says it is.

#[test]
fn the_bundled_libopus_links_and_reports_its_version() {
    // SAFETY: opus_get_version_string returns a static NUL-terminated string.
    let version = unsafe { core::ffi::CStr::from_ptr(ondes_libopus_sys::opus_get_version_string()) };
    assert_eq!(version.to_str().expect("ASCII"), "libopus 1.6.1");
}
