//! Return addresses to frames (function, file, line), inlined frames
//! expanded, cached for the life of the process. The debug information
//! read to find them is not kept: it is dropped after each snapshot's
//! lookups.
//!
//! Runs at snapshot time only, never on the allocation path, under its own
//! lock (which the allocation path never takes). Symbolising allocates; that
//! is fine here because the snapshotting thread holds the re-entrancy guard.

use std::collections::HashMap;

use crate::record::hash::AddrHash;
use crate::sys::lock::SpinLock;

/// One source-level frame at an address. An address yields several when
/// functions were inlined into each other: innermost first, the function
/// that really owns the machine code last.
pub(crate) use heapsnap_format::snapshot::Symbol;

type Cache = HashMap<usize, Box<[Symbol]>, AddrHash>;

/// Addresses already symbolised. Taken by the `fork` handlers too, so that a
/// child never inherits it locked by a thread that did not survive the fork.
pub(crate) static CACHE: SpinLock<Cache> = SpinLock::new(HashMap::with_hasher(AddrHash));

/// Calls `each` with the symbols of every address, resolving those not seen
/// before.
#[cfg(test)]
pub(crate) fn resolve_all(
    addrs: impl IntoIterator<Item = usize>,
    mut each: impl FnMut(usize, &[Symbol]),
) {
    resolve_while(
        addrs,
        || true,
        |addr, symbols| each(addr, symbols.unwrap_or(&[])),
    );
}

/// [`resolve_all`], but addresses not resolved before are looked up only
/// while `may_look_up` says so; after that they get no symbols (reading
/// debug information takes memory: a snapshot taken short of memory keeps
/// its raw addresses, which the module map still places: `each` gets
/// `None` for them). True when it looked any address up.
pub(crate) fn resolve_while(
    addrs: impl IntoIterator<Item = usize>,
    mut may_look_up: impl FnMut() -> bool,
    mut each: impl FnMut(usize, Option<&[Symbol]>),
) -> bool {
    let mut looked_up = false;
    let mut cache = CACHE.lock();
    for addr in addrs {
        match cache.get(&addr) {
            Some(symbols) => each(addr, Some(symbols)),
            None if may_look_up() => {
                looked_up = true;
                let symbols = cache.entry(addr).or_insert_with(|| lookup(addr));
                each(addr, Some(symbols));
            }
            None => each(addr, None),
        }
    }
    if looked_up {
        // The debug information read for the lookups (the mapped binary,
        // its parsed units: tens of MiB for a large one) is given back at
        // once; the next snapshot reads again only for addresses it has
        // not seen. Under the cache's lock, which the fork handlers take:
        // the symboliser's own lock must never be held across a fork.
        backtrace::clear_symbol_cache();
    }
    drop(cache);
    looked_up
}

fn lookup(addr: usize) -> Box<[Symbol]> {
    let mut symbols = Vec::new();
    // `resolve` looks up `addr - 1`, inside the call instruction that a
    // return address follows, and reports inlined frames innermost first.
    backtrace::resolve(addr as *mut std::ffi::c_void, |symbol| {
        symbols.push(Symbol {
            // `{:#}` drops the hash of legacy symbols and the crate
            // disambiguators of v0 symbols, keeping generic arguments.
            function: symbol.name().map(|name| format!("{name:#}")),
            file: symbol.filename().map(|path| path.display().to_string()),
            line: symbol.lineno(),
        });
    });
    symbols.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn return_address_here() -> usize {
        let mut frames = [std::mem::MaybeUninit::uninit(); 8];
        // The first frames are inside the profiler; find this function's.
        crate::record::thread::with(|state| crate::record::stack::capture(&mut frames, state, 0))
            .frames
            .iter()
            .copied()
            .find(|&a| {
                let mut name = None;
                resolve_all([a], |_, s| name = s.last().and_then(|s| s.function.clone()));
                name.is_some_and(|n| n.contains("return_address_here"))
            })
            .expect("own frame")
    }

    #[test]
    fn resolves_own_function_with_file_and_line() {
        let addr = return_address_here();
        let mut found = Vec::new();
        resolve_all([addr, addr], |_, symbols| found.push(symbols.to_vec()));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], found[1], "cached result differs");
        let last = found[0].last().unwrap();
        assert!(
            last.file.as_deref().unwrap().ends_with("symbolize.rs"),
            "{last:?}"
        );
        assert!(last.line.is_some());
    }
}
