//! The snapshot reader on arbitrary bytes: it returns a snapshot or an
//! error, never panics, and what it accepts passes its own validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = heapsnap_format::Snapshot::from_slice(data) {
        assert!(snapshot.validate().is_ok());
    }
});
