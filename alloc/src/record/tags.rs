//! Tags: names a thread puts on the allocations it makes while a scope
//! lives, when the stack alone does not say what memory is for (a tenant, a
//! subsystem, a request type).

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::hash::AddrHash;
use super::thread;
use crate::sys::lock::{SpinLock, copy_entries};

/// Interned tag names; ids start at 1 (0 is "no tag"). Names are leaked:
/// there are few of them and snapshots refer to them for the whole run.
pub(crate) static TAGS: SpinLock<HashMap<&'static str, u32, AddrHash>> =
    SpinLock::new(HashMap::with_hasher(AddrHash));

/// Tags the allocations this thread makes until the returned guard is
/// dropped. Scopes nest: dropping the guard restores the enclosing tag.
///
/// ```
/// let _scope = heapsnap::tag("ips");
/// let registry: Vec<u64> = Vec::with_capacity(1024); // sampled under "ips"
/// # drop(registry);
/// ```
pub fn tag(name: &str) -> TagGuard {
    let previous = thread::with(|state| {
        let id = {
            let _busy = state.enter();
            intern(name)
        };
        state.replace_tag(id)
    });
    TagGuard {
        previous,
        _not_send: PhantomData,
    }
}

/// Tags the allocations `future` makes while it is polled, on whichever
/// thread polls it: for async code, where a guard from [`tag`] would stay
/// with the thread while the task moves between workers and other tasks
/// run on it. `Send` when the future is. Tags nest like [`tag`]'s.
///
/// ```
/// # async fn purge_expired() {}
/// let job = heapsnap::tagged("purge", purge_expired());
/// // tokio::spawn(job);
/// # drop(job);
/// ```
pub fn tagged<F: Future>(name: &str, future: F) -> Tagged<F> {
    let id = thread::with(|state| {
        let _busy = state.enter();
        intern(name)
    });
    Tagged {
        id,
        future: Box::pin(future),
    }
}

/// A future whose allocations carry a tag while it is polled. Returned by
/// [`tagged`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Tagged<F> {
    id: u32,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Tagged<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let previous = thread::with(|state| state.replace_tag(this.id));
        // Restored even if the poll panics.
        let _restore = TagGuard {
            previous,
            _not_send: PhantomData,
        };
        this.future.as_mut().poll(cx)
    }
}

/// Tags this thread's allocations with the name of type `T`
/// (`std::any::type_name`) until the guard is dropped.
pub fn tag_type<T: ?Sized>() -> TagGuard {
    tag(std::any::type_name::<T>())
}

fn intern(name: &str) -> u32 {
    if let Some(&id) = TAGS.lock().get(name) {
        return id;
    }
    let owned: Box<str> = name.into();
    let Some(mut tags) = TAGS.lock_with_room(1) else {
        return thread::NO_TAG;
    };
    if let Some(&id) = tags.get(name) {
        drop(tags);
        drop(owned);
        return id;
    }
    let id = tags.len() as u32 + 1;
    tags.insert(Box::leak(owned), id);
    id
}

/// Every tag with its id.
pub(crate) fn all() -> Vec<(&'static str, u32)> {
    let mut out = Vec::new();
    let _ = copy_entries(&TAGS, &mut out);
    out
}

/// Restores the thread's previous tag when dropped. Returned by [`tag`].
#[must_use = "the tag applies only while the guard lives"]
#[derive(Debug)]
pub struct TagGuard {
    previous: u32,
    // The tag belongs to the thread that set it.
    _not_send: PhantomData<*const ()>,
}

impl Drop for TagGuard {
    fn drop(&mut self) {
        thread::with(|state| state.replace_tag(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> u32 {
        thread::with(|state| {
            let previous = state.replace_tag(0);
            state.replace_tag(previous);
            previous
        })
    }

    #[test]
    fn scopes_nest_and_names_intern_once() {
        assert_eq!(current(), thread::NO_TAG);
        let outer = tag("outer-test-tag");
        let outer_id = current();
        assert_ne!(outer_id, thread::NO_TAG);
        {
            let _inner = tag("inner-test-tag");
            assert_ne!(current(), outer_id);
        }
        assert_eq!(current(), outer_id);
        drop(outer);
        assert_eq!(current(), thread::NO_TAG);
        let again = tag("outer-test-tag");
        assert_eq!(current(), outer_id);
        drop(again);
        assert!(
            all()
                .iter()
                .any(|&(name, id)| name == "outer-test-tag" && id == outer_id)
        );
    }
}
