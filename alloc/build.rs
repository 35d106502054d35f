//! Detects builds with frame pointers (`-C force-frame-pointers=yes` in the
//! rustflags) for a target whose frame records the walker knows (Linux on
//! x86-64 or AArch64), and sets `cfg(heapsnap_frame_pointers)`, which makes
//! the profiler walk frame pointers instead of unwinding with DWARF; and
//! builds with v0 symbol names (`-C symbol-mangling-version=v0`), setting
//! `cfg(heapsnap_v0_symbols)`, which snapshots record; and
//! `cfg(heapsnap_jemalloc)` when the `jemalloc` feature is on for a target
//! jemalloc builds for (not MSVC). The rustflags this
//! crate is built with are the program's: cargo gives every crate of a
//! build the same ones.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(heapsnap_frame_pointers)");
    println!("cargo::rustc-check-cfg=cfg(heapsnap_v0_symbols)");
    println!("cargo::rustc-check-cfg=cfg(heapsnap_jemalloc)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let target = |name| std::env::var(name).unwrap_or_default();
    let walkable = target("CARGO_CFG_TARGET_OS") == "linux"
        && matches!(
            target("CARGO_CFG_TARGET_ARCH").as_str(),
            "x86_64" | "aarch64"
        );
    let flags = || flags.split('\x1f');
    let frame_pointers = last_codegen_option(flags(), "force-frame-pointers")
        .is_some_and(|v| matches!(v, "" | "=yes" | "=y" | "=on" | "=true" | "=always"));
    if walkable && frame_pointers {
        println!("cargo::rustc-cfg=heapsnap_frame_pointers");
    }
    if last_codegen_option(flags(), "symbol-mangling-version") == Some("=v0") {
        println!("cargo::rustc-cfg=heapsnap_v0_symbols");
    }
    if std::env::var_os("CARGO_FEATURE_JEMALLOC").is_some()
        && target("CARGO_CFG_TARGET_ENV") != "msvc"
    {
        println!("cargo::rustc-cfg=heapsnap_jemalloc");
    }
}

/// The value (`=yes`, or empty) of the last codegen option `name` among
/// `flags` (`-C name=value`, `-Cname=value`, `--codegen name=value`).
fn last_codegen_option<'a>(flags: impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    let mut last = None;
    let mut after_dash_c = false;
    for flag in flags {
        let option = if after_dash_c {
            Some(flag)
        } else {
            flag.strip_prefix("-C")
                .or_else(|| flag.strip_prefix("--codegen="))
        };
        after_dash_c = flag == "-C" || flag == "--codegen";
        if let Some(value) = option.and_then(|o| o.strip_prefix(name)) {
            last = Some(value);
        }
    }
    last
}
