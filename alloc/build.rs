//! Detects builds with frame pointers (`-C force-frame-pointers=yes` in the
//! rustflags) for a target whose frame records the walker knows (Linux on
//! x86-64 or AArch64), and sets `cfg(heapsnap_frame_pointers)`, which makes
//! the profiler walk frame pointers instead of unwinding with DWARF.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(heapsnap_frame_pointers)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let target = |name| std::env::var(name).unwrap_or_default();
    let walkable = target("CARGO_CFG_TARGET_OS") == "linux"
        && matches!(
            target("CARGO_CFG_TARGET_ARCH").as_str(),
            "x86_64" | "aarch64"
        );
    if walkable && frame_pointers_forced(flags.split('\x1f')) {
        println!("cargo::rustc-cfg=heapsnap_frame_pointers");
    }
}

/// True when the last `force-frame-pointers` codegen option turns them on.
fn frame_pointers_forced<'a>(flags: impl Iterator<Item = &'a str>) -> bool {
    let mut forced = false;
    let mut after_dash_c = false;
    for flag in flags {
        let option = if after_dash_c {
            Some(flag)
        } else {
            flag.strip_prefix("-C")
                .or_else(|| flag.strip_prefix("--codegen="))
        };
        after_dash_c = flag == "-C" || flag == "--codegen";
        if let Some(value) = option.and_then(|o| o.strip_prefix("force-frame-pointers")) {
            forced = matches!(value, "" | "=yes" | "=y" | "=on" | "=true" | "=always");
        }
    }
    forced
}
