//! Detects builds with frame pointers (`-C force-frame-pointers=yes` in the
//! rustflags) and sets `cfg(heapsnap_frame_pointers)`, which makes the
//! profiler walk frame pointers instead of unwinding with DWARF.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(heapsnap_frame_pointers)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if frame_pointers_forced(flags.split('\x1f')) {
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
