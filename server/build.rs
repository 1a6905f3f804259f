//! Release builds link the functions the server runs (at start and serving the API and the
//! gateway) next to each other, in the order of `link-order.txt`, which `make link-order`
//! writes from a profile of the release build. The kernel maps a binary's code into the process
//! in 64 KiB runs around each page that runs: scattered over the whole 20 MiB of machine code,
//! the 5 MiB that run kept 11.5 MiB resident; gathered, they keep under 6.
//!
//! Functions the file names that the binary no longer has are skipped; those it does not name
//! are laid out after it, as before. A stale file costs memory, never correctness.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=link-order.txt");
    let release = env::var("PROFILE").is_ok_and(|profile| profile == "release");
    // rustc links x86_64 Linux with its own lld, which reads the file; other linkers may not.
    let lld = env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "x86_64")
        && env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|target_env| target_env == "gnu");
    let order = format!(
        "{}/link-order.txt",
        env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")
    );
    let wanted = env::var_os("KEYWARDEN_NO_LINK_ORDER").is_none();
    if release && lld && wanted && std::path::Path::new(&order).exists() {
        println!("cargo::rustc-link-arg-bin=keywarden=-Wl,--symbol-ordering-file={order}");
        println!("cargo::rustc-link-arg-bin=keywarden=-Wl,--no-warn-symbol-ordering");
    }
    println!("cargo::rerun-if-env-changed=KEYWARDEN_NO_LINK_ORDER");
}
