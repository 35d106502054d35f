//! The loaded objects (executable, shared libraries) with their address
//! ranges and build ids, so that a snapshot's raw addresses can be
//! symbolised again offline, on another machine. Read from the dynamic
//! loader on Linux; elsewhere the list is empty for now (frames are still
//! symbolised in the process).

#[cfg(target_os = "linux")]
use std::ffi::{CStr, c_int, c_void};

use crate::sys::lock::SpinLock;

/// Held while the dynamic loader is asked for its objects. `dl_iterate_phdr`
/// holds a loader lock that glibc does not reset in a forked child, so the
/// `fork` handlers take this lock too: no profiler thread is inside the
/// loader at the moment of a fork, and a child's snapshot cannot wait forever
/// on a loader lock its parent's thread held.
pub(crate) static LOADER: SpinLock<()> = SpinLock::new(());

/// One loaded object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// File path; the executable's own for the main program.
    pub path: String,
    /// Executable address range, `[start, end)`.
    pub start: u64,
    pub end: u64,
    /// Load bias: runtime address minus the address in the file.
    pub bias: u64,
    /// GNU build id, hex.
    pub build_id: Option<String>,
}

/// Lists the loaded objects that contain code: none outside Linux.
#[cfg(not(target_os = "linux"))]
pub(crate) fn loaded() -> Vec<Loaded> {
    Vec::new()
}

/// Lists the loaded objects that contain code.
#[cfg(target_os = "linux")]
pub(crate) fn loaded() -> Vec<Loaded> {
    let mut out: Vec<Loaded> = Vec::new();
    let loader = LOADER.lock();
    // SAFETY: `collect` matches the callback signature `dl_iterate_phdr`
    // expects, and `out` outlives the call; the callback only reads the
    // `dl_phdr_info` it is given, within the bounds that info describes.
    unsafe { libc::dl_iterate_phdr(Some(collect), (&mut out as *mut Vec<Loaded>).cast()) };
    drop(loader);
    // The program itself: glibc names it "", musl "/proc/self/exe" (a
    // path that means the reader's own program anywhere else).
    if let Some(main) = out
        .iter_mut()
        .find(|m| m.path.is_empty() || m.path == "/proc/self/exe")
    {
        main.path = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
    }
    out.retain(|m| !m.path.is_empty() && m.end > m.start);
    out
}

/// `dl_iterate_phdr` callback: records one object. Never unwinds.
#[cfg(target_os = "linux")]
unsafe extern "C" fn collect(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is the `Vec<Loaded>` passed by `loaded`, and `info`
    // points to a valid `dl_phdr_info` for the duration of the callback.
    let (out, info) = unsafe { (&mut *data.cast::<Vec<Loaded>>(), &*info) };
    let path = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `dlpi_name` is a NUL-terminated string.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };
    let headers: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) }
    };
    let bias = info.dlpi_addr;
    let mut start = u64::MAX;
    let mut end = 0u64;
    let mut build_id = None;
    for header in headers {
        let addr = bias.wrapping_add(header.p_vaddr);
        if header.p_type == libc::PT_LOAD && header.p_flags & libc::PF_X != 0 {
            start = start.min(addr);
            end = end.max(addr.wrapping_add(header.p_memsz));
        }
        if header.p_type == libc::PT_NOTE && build_id.is_none() {
            // SAFETY: a PT_NOTE segment of a loaded object is mapped at
            // `addr` for `p_memsz` bytes.
            let notes =
                unsafe { std::slice::from_raw_parts(addr as *const u8, header.p_memsz as usize) };
            build_id = find_build_id(notes);
        }
    }
    if start < end {
        out.push(Loaded {
            path,
            start,
            end,
            bias,
            build_id,
        });
    }
    0
}

/// Finds the GNU build id among ELF notes.
#[cfg(target_os = "linux")]
fn find_build_id(mut notes: &[u8]) -> Option<String> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |bytes: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    while notes.len() >= 12 {
        let name_size = word(notes, 0)? as usize;
        let desc_size = word(notes, 4)? as usize;
        let kind = word(notes, 8)?;
        let desc_start = 12usize.checked_add(align4(name_size)?)?;
        let next = desc_start.checked_add(align4(desc_size)?)?;
        let name = notes.get(12..12 + name_size)?;
        let desc = notes.get(desc_start..desc_start + desc_size)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        notes = notes.get(next..)?;
    }
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn lists_this_executable_containing_this_function() {
        let here = lists_this_executable_containing_this_function as *const () as u64;
        let modules = loaded();
        let main = modules
            .iter()
            .find(|m| m.start <= here && here < m.end)
            .expect("a module contains this function");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(main.path, exe.display().to_string());
        assert!(
            modules.iter().any(|m| m.path.contains("libc")),
            "{modules:?}"
        );
    }

    #[test]
    fn parses_a_build_id_note() {
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_ne_bytes());
        note.extend_from_slice(&3u32.to_ne_bytes());
        note.extend_from_slice(&1u32.to_ne_bytes()); // another kind first
        note.extend_from_slice(b"GNU\0");
        note.extend_from_slice(&[9, 9, 9, 0]);
        note.extend_from_slice(&4u32.to_ne_bytes());
        note.extend_from_slice(&4u32.to_ne_bytes());
        note.extend_from_slice(&3u32.to_ne_bytes());
        note.extend_from_slice(b"GNU\0");
        note.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(find_build_id(&note).as_deref(), Some("deadbeef"));
        assert_eq!(find_build_id(&note[..20]), None);
        assert_eq!(find_build_id(&[]), None);
    }
}
