//! Capturing the return addresses of the current call stack, on the sampled
//! path only.
//!
//! In builds with frame pointers (`-C force-frame-pointers=yes`; the shipped
//! standard library keeps them too), the walk follows the chain of saved
//! frame pointers: tens of nanoseconds for thirty frames. Every frame pointer
//! is checked before it is read: it must lie between the current stack
//! pointer and the top of this thread's stack, be aligned, and move strictly
//! towards the top, so a frame without a frame pointer (C code, a signal
//! trampoline) ends the walk instead of sending it outside the stack.
//!
//! Elsewhere (no frame pointers, other architectures, or a stack that is not
//! the thread's own, as in a signal handler on an alternate stack or a
//! coroutine) the `backtrace` crate unwinds with DWARF call-frame
//! information: correct everywhere, but microseconds per stack.

use std::mem::MaybeUninit;

use super::hash::StackHash;
use super::settings;
use super::thread::ThreadState;

/// True when stacks are captured by walking frame pointers (the build has
/// them and `HEAPSNAP_STACK_WALK=backtrace` does not say otherwise).
pub(crate) fn uses_frame_pointers() -> bool {
    cfg!(heapsnap_frame_pointers) && !settings::force_backtrace()
}

/// The calling function's stack pointer: the boundary between the
/// profiler's frames (below it) and the program's (above it), taken by the
/// function the allocator called.
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: copies a register; touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: copies a register; touches no memory.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        sp = 0;
    }
    sp
}

/// A captured stack: return addresses, innermost first, and their hash.
pub(crate) struct Stack<'a> {
    pub frames: &'a [usize],
    pub hash: StackHash,
}

/// Captures the stack of the program that called the allocator into `out`
/// (which need not be initialised: clearing a kilobyte per sample costs as
/// much as walking ten frames).
///
/// `boundary` is [`stack_pointer`] as read by the function the allocator
/// called (see `profiler.rs`): the profiler's own frames lie below it and
/// are skipped, so the first address recorded is the return address into
/// the allocator's entry point. Skipping by position rather than by name
/// works whatever the symbols look like (short DWARF names in builds with
/// `debug = "line-tables-only"`), and keeps the profiler's frames, and the
/// standard-library frames interleaved with them, out of every stack.
#[inline(never)]
pub(crate) fn capture<'a>(
    out: &'a mut [MaybeUninit<usize>],
    state: &ThreadState,
    boundary: usize,
) -> Stack<'a> {
    let (n, hash) = capture_into(out, state, boundary);
    // SAFETY: `capture_into` initialised the first `n` elements.
    let frames = unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<usize>(), n) };
    Stack { frames, hash }
}

fn capture_into(
    out: &mut [MaybeUninit<usize>],
    state: &ThreadState,
    boundary: usize,
) -> (usize, StackHash) {
    #[cfg(not(heapsnap_frame_pointers))]
    let _ = state;
    #[cfg(heapsnap_frame_pointers)]
    if uses_frame_pointers() {
        let top = state.stack_top(frame_pointers::stack_top);
        if top > 1 {
            let mut hash = StackHash::new();
            let n = frame_pointers::walk(out, top, boundary, &mut hash);
            if n > 0 {
                return (n, hash);
            }
        }
    }
    let n = unwind(out, boundary);
    // SAFETY: `unwind` initialised the first `n` elements.
    let frames = unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<usize>(), n) };
    (n, StackHash::of(frames))
}

/// Unwinds with the `backtrace` crate; returns how many elements of `out`
/// it initialised. Frames whose stack pointer is at or below `boundary`
/// are the profiler's (the boundary function's own included); recording
/// starts at the first frame above it, the boundary function's caller, at
/// the return address into it. A `boundary` of 0 keeps every frame.
///
/// What the unwinder reports as a frame's `sp` is that frame's own stack
/// pointer (libgcc's and LLVM's `_Unwind_GetCFA`, read while tracing, give
/// the canonical frame address of the frame below it, which is the same
/// value). Were it the frame's canonical address instead, the boundary
/// function's frame would be recorded too, and trimmed by name with the
/// allocator's entry points: either way no frame of the program is lost,
/// even where the entry point reaches the boundary function by a tail call
/// and the program's frame comes right after it.
#[inline(never)]
pub(crate) fn unwind(out: &mut [MaybeUninit<usize>], boundary: usize) -> usize {
    let mut n = 0;
    let mut started = boundary == 0;
    // SAFETY: `trace_unsynchronized` is unsafe only because it does not take
    // the `backtrace` crate's global lock; on Linux it calls libgcc's
    // unwinder, which is safe to call from several threads at once. Taking
    // that lock here could deadlock with a thread that holds it while
    // allocating.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            if !started {
                started = frame.sp() as usize > boundary;
                if !started {
                    return true;
                }
            }
            if let Some(slot) = out.get_mut(n) {
                slot.write(frame.ip() as usize);
                n += 1;
            }
            n < out.len()
        });
    }
    n
}

#[cfg(heapsnap_frame_pointers)]
pub(crate) mod frame_pointers {
    use std::mem::MaybeUninit;

    use crate::record::hash::StackHash;

    /// The highest address of the calling thread's stack, or 0 if unknown.
    ///
    /// May allocate (glibc reads `/proc/self/maps` for the main thread), so
    /// it runs under the re-entrancy guard, once per thread.
    pub(crate) fn stack_top() -> usize {
        let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
        // SAFETY: `attr` is writable storage for an attribute object, which
        // `pthread_getattr_np` initialises on success.
        if unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) } != 0 {
            return 0;
        }
        let mut base = std::ptr::null_mut();
        let mut size = 0;
        // SAFETY: `attr` was initialised above; `base` and `size` are
        // writable.
        let rc = unsafe { libc::pthread_attr_getstack(attr.as_ptr(), &mut base, &mut size) };
        // SAFETY: `attr` was initialised by `pthread_getattr_np` and is
        // destroyed once.
        unsafe { libc::pthread_attr_destroy(attr.as_mut_ptr()) };
        if rc != 0 {
            return 0;
        }
        (base as usize).saturating_add(size)
    }

    /// Reads this function's frame pointer and the stack pointer.
    #[inline(always)]
    fn registers() -> (usize, usize) {
        let (fp, sp): (usize, usize);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: copies two registers; touches no memory.
        unsafe {
            std::arch::asm!("mov {fp}, rbp", "mov {sp}, rsp", fp = out(reg) fp, sp = out(reg) sp,
                options(nomem, nostack, preserves_flags));
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: copies two registers; touches no memory.
        unsafe {
            std::arch::asm!("mov {fp}, x29", "mov {sp}, sp", fp = out(reg) fp, sp = out(reg) sp,
                options(nomem, nostack, preserves_flags));
        }
        (fp, sp)
    }

    /// Walks the frame-pointer chain from this function's frame up to `top`,
    /// recording from the first frame record at or above `boundary` (the
    /// boundary function's, which holds the return address into its
    /// caller); returns how many elements of `out` it initialised, and
    /// pushes each address onto `hash` (cheaper here than in a loop of its
    /// own). Returns 0 when the chain breaks before the boundary (a frame
    /// without a frame pointer): the caller unwinds instead.
    ///
    /// Both architectures store a frame record `[saved frame pointer, return
    /// address]` at the address the frame pointer holds. A record is read
    /// only if it lies between the stack pointer and `top`, and each caller's
    /// record must lie strictly above the last one: garbage cannot send the
    /// walk outside the stack or round in circles.
    #[inline(never)]
    pub(crate) fn walk(
        out: &mut [MaybeUninit<usize>],
        top: usize,
        boundary: usize,
        hash: &mut StackHash,
    ) -> usize {
        const RECORD: usize = 2 * std::mem::size_of::<usize>();
        let (mut fp, sp) = registers();
        let Some(last) = top.checked_sub(RECORD) else {
            return 0;
        };
        if fp < sp || fp > last {
            return 0;
        }
        // The profiler's own frames: follow them without recording.
        while fp < boundary {
            // SAFETY: `sp <= fp <= top - RECORD` (checked before the loop and
            // for every `next`): a readable word of this thread's stack.
            let next = unsafe { (fp as *const usize).read_unaligned() };
            if next < fp + RECORD || next > last {
                return 0;
            }
            fp = next;
        }
        let mut n = 0;
        while n < out.len() {
            // SAFETY: `sp <= fp <= top - RECORD`, so both words of the record
            // lie in this thread's stack above the stack pointer: mapped and
            // readable while this function runs. Unaligned reads: a frame
            // pointer from code without frame pointers may be anything.
            let (next, ret) = unsafe {
                let record = fp as *const usize;
                (record.read_unaligned(), record.add(1).read_unaligned())
            };
            let ret = strip_pointer_authentication(ret);
            out[n].write(ret);
            hash.push(ret);
            n += 1;
            if next < fp + RECORD || next > last {
                break;
            }
            fp = next;
        }
        // A chain may end in a record with a zero return address; the
        // snapshot drops it.
        n
    }

    /// On aarch64, return addresses may carry a pointer-authentication code
    /// in their top bits; user-space addresses fit in 48 bits.
    #[inline(always)]
    fn strip_pointer_authentication(addr: usize) -> usize {
        if cfg!(target_arch = "aarch64") {
            addr & 0x0000_FFFF_FFFF_FFFF
        } else {
            addr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::thread;

    /// Captures the same call's stack both ways. `inline(never)` keeps a
    /// real frame for this function in both captures.
    #[inline(never)]
    fn both(depth: usize) -> (Vec<usize>, Vec<usize>) {
        if depth > 0 {
            let result = both(depth - 1);
            std::hint::black_box(depth);
            return result;
        }
        let mut walked = [MaybeUninit::uninit(); 128];
        let captured = thread::with(|state| capture(&mut walked, state, 0));
        assert_eq!(
            StackHash::of(captured.frames).finish(0),
            captured.hash.finish(0)
        );
        let walked = captured.frames.to_vec();
        let mut unwound = [MaybeUninit::uninit(); 128];
        let n = unwind(&mut unwound, 0);
        // SAFETY: `unwind` initialised the first `n` elements.
        let unwound = unwound[..n]
            .iter()
            .map(|a| unsafe { a.assume_init() })
            .collect();
        (walked, unwound)
    }

    #[test]
    #[cfg(heapsnap_frame_pointers)]
    fn frame_pointer_stacks_equal_backtrace_stacks() {
        assert!(
            uses_frame_pointers(),
            "the workspace builds with -C force-frame-pointers=yes"
        );
        let (walked, unwound) = both(12);
        // The two captures return to different call sites inside `both`
        // (the calls to `capture` and to `unwind`); from `both`'s caller
        // outwards they must agree frame for frame. Find the first return
        // address into the recursion in each, and compare from there.
        let first_common = walked
            .iter()
            .position(|a| unwound.contains(a))
            .expect("the stacks share no frame");
        let start_in_unwound = unwound
            .iter()
            .position(|a| *a == walked[first_common])
            .unwrap();
        let walked = &walked[first_common..];
        let unwound = &unwound[start_in_unwound..];
        // The frame-pointer walk stops at the first frame without a frame
        // pointer (glibc's thread start); every frame before that must match.
        assert!(walked.len() >= 14, "only {} frames walked", walked.len());
        assert!(unwound.len() >= walked.len() - 1);
        let compared = walked.len() - 1;
        assert_eq!(&walked[..compared], &unwound[..compared]);
    }

    #[test]
    #[cfg(heapsnap_frame_pointers)]
    fn walk_stays_inside_a_bogus_stack_top() {
        // A top just above the current frame: the walk must stop, not read
        // beyond it.
        let mut out = [MaybeUninit::uninit(); 64];
        let here = 0u8;
        let top = &here as *const u8 as usize + 256;
        let mut hash = StackHash::new();
        let n = frame_pointers::walk(&mut out, top, 0, &mut hash);
        assert!(n <= 8, "{n}");
        // A top below the stack pointer: nothing is read at all.
        assert_eq!(frame_pointers::walk(&mut out, 4096, 0, &mut hash), 0);
    }
}
