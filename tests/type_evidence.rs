//! In the release build with the workspace's flags (frame pointers, v0
//! mangling, line tables), the frames of samples taken inside
//! `HashSet<Arc<Conn>>::insert` and `Vec<Event>::push` name the concrete
//! element types: the evidence the reporter names types from.

mod support;

use std::process::Command;

use heapsnap::Snapshot;

#[test]
fn release_frames_carry_concrete_element_types() {
    let dir = support::scratch("type-evidence");
    let path = dir.join("heap.json");
    support::output_ok(
        Command::new(support::example("quickstart"))
            .arg(&path)
            .env("HEAPSNAP_SAMPLE_INTERVAL", "1"),
    );
    let snap = Snapshot::read_from_path(&path).unwrap();
    assert_eq!(snap.sampling.stack_walk, "frame-pointers");
    let functions: Vec<&str> = snap
        .frames
        .iter()
        .filter_map(|f| f.function.as_deref())
        .collect();
    let has = |needle: &str| functions.iter().any(|f| f.contains(needle));
    assert!(
        has("<hashbrown::raw::RawTable<(alloc::sync::Arc<quickstart::Conn>, ())>>::reserve_rehash"),
        "no HashSet<Arc<Conn>> frame among {functions:#?}"
    );
    assert!(
        has("<alloc::raw_vec::RawVec<quickstart::Event>>::grow_one"),
        "no RawVec<Event> frame"
    );
    assert!(
        has("<alloc::vec::Vec<quickstart::Event>>::push"),
        "no Vec<Event>::push frame"
    );
    assert!(
        has("<alloc::sync::Arc<quickstart::Conn>>::new"),
        "no Arc<Conn>::new frame"
    );
    // Line tables survive optimisation: user frames have files and lines.
    let register = snap
        .frames
        .iter()
        .find(|f| f.function.as_deref() == Some("quickstart::register"))
        .expect("a frame in quickstart::register");
    assert!(
        register
            .file
            .as_deref()
            .unwrap()
            .ends_with("examples/quickstart.rs")
    );
    assert!(register.line.is_some());
    std::fs::remove_dir_all(dir).unwrap();
}
