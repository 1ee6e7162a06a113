//! The wasm32 backend: host imports from module `hanok`, the bump allocator and the panic handler.

use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use hanok_abi::{Address, Env, Event};

mod sys {
    #[link(wasm_import_module = "hanok")]
    extern "C" {
        pub fn input() -> i32;
        pub fn env() -> i32;
        pub fn register_read(dst: i32);
        pub fn storage_read(key_ptr: i32, key_len: i32) -> i32;
        pub fn storage_write(key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32);
        pub fn storage_remove(key_ptr: i32, key_len: i32);
        pub fn storage_range(
            start_ptr: i32,
            start_len: i32,
            end_ptr: i32,
            end_len: i32,
            limit: i32,
        ) -> i32;
        pub fn emit_event(ptr: i32, len: i32);
        pub fn call(addr_ptr: i32, msg_ptr: i32, msg_len: i32) -> i32;
        pub fn query(addr_ptr: i32, msg_ptr: i32, msg_len: i32) -> i32;
        pub fn sha256(ptr: i32, len: i32, out_ptr: i32);
        pub fn secp256k1_verify(hash_ptr: i32, sig_ptr: i32, pk_ptr: i32, pk_len: i32) -> i32;
        pub fn abort(msg_ptr: i32, msg_len: i32);
    }
}

// wasm32 pointers and lengths fit in i32 by construction; the casts below reinterpret bits.
#[allow(
    clippy::cast_possible_wrap,
    reason = "wasm32 addresses are passed as i32 bit patterns"
)]
fn p(ptr: *const u8) -> i32 {
    ptr as usize as i32
}

#[allow(
    clippy::cast_possible_wrap,
    reason = "wasm32 lengths are passed as i32 bit patterns"
)]
fn l(len: usize) -> i32 {
    len as i32
}

/// Copies the register (of `len` bytes, `-1` meaning absent) into a fresh vector.
fn take_register(len: i32) -> Option<Vec<u8>> {
    let len = usize::try_from(len).ok()?;
    let mut buf = Vec::with_capacity(len);
    // SAFETY: the host writes exactly `len` bytes (the register's length it just reported) at
    // the pointer, which has capacity `len`; then we declare them initialised.
    unsafe {
        sys::register_read(p(buf.as_mut_ptr()));
        buf.set_len(len);
    }
    Some(buf)
}

pub(crate) fn input() -> Vec<u8> {
    // SAFETY: host call without pointers.
    take_register(unsafe { sys::input() }).unwrap_or_default()
}

pub(crate) fn env() -> Env {
    // SAFETY: host call without pointers.
    let bytes = take_register(unsafe { sys::env() }).unwrap_or_default();
    match Env::decode(&bytes) {
        Ok(env) => env,
        Err(_) => abort("host returned a malformed env"),
    }
}

pub(crate) fn read(key: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: the key slice is valid for its length during the call.
    take_register(unsafe { sys::storage_read(p(key.as_ptr()), l(key.len())) })
}

pub(crate) fn write(key: &[u8], value: &[u8]) {
    // SAFETY: both slices are valid for their lengths during the call.
    unsafe {
        sys::storage_write(
            p(key.as_ptr()),
            l(key.len()),
            p(value.as_ptr()),
            l(value.len()),
        )
    }
}

pub(crate) fn remove(key: &[u8]) {
    // SAFETY: the key slice is valid for its length during the call.
    unsafe { sys::storage_remove(p(key.as_ptr()), l(key.len())) }
}

pub(crate) fn range(start: &[u8], end: Option<&[u8]>, limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (end_ptr, end_len) = match end {
        Some(e) => (p(e.as_ptr()), l(e.len())),
        None => (0, -1),
    };
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    // SAFETY: the slices are valid for their lengths during the call.
    let len =
        unsafe { sys::storage_range(p(start.as_ptr()), l(start.len()), end_ptr, end_len, limit) };
    let bytes = take_register(len).unwrap_or_default();
    match hanok_abi::decode_pairs(&bytes) {
        Ok(pairs) => pairs,
        Err(_) => abort("host returned malformed storage pairs"),
    }
}

pub(crate) fn emit(event: &Event) {
    let bytes = event.encode();
    // SAFETY: the slice is valid for its length during the call.
    unsafe { sys::emit_event(p(bytes.as_ptr()), l(bytes.len())) }
}

fn decode_call(len: i32) -> Result<Vec<u8>, String> {
    let bytes = take_register(len).unwrap_or_default();
    match hanok_abi::decode_result(&bytes) {
        Ok(r) => r,
        Err(_) => abort("host returned a malformed call result"),
    }
}

pub(crate) fn call(contract: &Address, msg: &[u8]) -> Result<Vec<u8>, String> {
    // SAFETY: the address is 20 readable bytes; the message slice is valid for its length.
    decode_call(unsafe { sys::call(p(contract.0.as_ptr()), p(msg.as_ptr()), l(msg.len())) })
}

pub(crate) fn query(contract: &Address, msg: &[u8]) -> Result<Vec<u8>, String> {
    // SAFETY: as for `call`.
    decode_call(unsafe { sys::query(p(contract.0.as_ptr()), p(msg.as_ptr()), l(msg.len())) })
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: the host writes exactly 32 bytes at `out`.
    unsafe { sys::sha256(p(data.as_ptr()), l(data.len()), p(out.as_mut_ptr())) };
    out
}

pub(crate) fn secp256k1_verify(hash: &[u8; 32], sig: &[u8; 64], pubkey: &[u8]) -> bool {
    // SAFETY: the host reads 32 bytes, 64 bytes and `pubkey.len()` bytes.
    unsafe {
        sys::secp256k1_verify(
            p(hash.as_ptr()),
            p(sig.as_ptr()),
            p(pubkey.as_ptr()),
            l(pubkey.len()),
        ) == 1
    }
}

pub(crate) fn abort(msg: &str) -> ! {
    // SAFETY: the slice is valid for its length; the host never returns from `abort`.
    unsafe { sys::abort(p(msg.as_ptr()), l(msg.len())) };
    core::arch::wasm32::unreachable()
}

/// Hands a result to the host as `(ptr << 32) | len` ([`hanok_abi::layout::pack_ptr_len`]). The
/// buffer is leaked on purpose: the instance is thrown away when the call ends.
#[allow(
    clippy::cast_possible_truncation,
    reason = "wasm32 pointers and lengths are 32 bits wide"
)]
pub(crate) fn return_bytes(bytes: Vec<u8>) -> i64 {
    let bytes = bytes.leak();
    hanok_abi::layout::pack_ptr_len(bytes.as_ptr() as usize as u32, bytes.len() as u32)
}

unsafe extern "C" {
    /// Where the linker ends the static data: the heap may start here.
    static __heap_base: u8;
}

/// A bump allocator over `memory.grow`.
///
/// Every call runs on a fresh instance, so nothing needs to be freed: the whole memory is
/// reclaimed when the call ends. This makes allocation a handful of instructions and keeps the
/// code small. Only the most recent allocation is freed or grown in place, which makes the common
/// `Vec` push pattern cheap.
struct Bump {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: wasm32 contracts are single-threaded (threads are disabled in the VM).
unsafe impl Sync for Bump {}

const PAGE: usize = 65536;

impl Bump {
    fn grow_to(&self, need_end: usize) -> bool {
        let end = self.end.get();
        if need_end <= end {
            return true;
        }
        let missing = need_end.wrapping_sub(end);
        let pages = missing.div_ceil(PAGE);
        if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
            return false;
        }
        self.end.set(end.wrapping_add(pages.wrapping_mul(PAGE)));
        true
    }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.end.get() == 0 {
            // First allocation: the heap starts at `__heap_base`, after the stack and static
            // data the linker laid out, and may use the rest of the initial memory before it
            // grows any (contracts are linked with room for a call's heap:
            // `hanok_wasm_build::INITIAL_MEMORY_BYTES`).
            // SAFETY: only the address of the linker-defined symbol is taken.
            let base = unsafe { core::ptr::addr_of!(__heap_base) } as usize;
            let top = core::arch::wasm32::memory_size(0).wrapping_mul(PAGE);
            self.next.set(base.min(top));
            self.end.set(top);
        }
        let align = layout.align();
        let Some(start) = self
            .next
            .get()
            .checked_add(align.wrapping_sub(1))
            .map(|v| v & !(align.wrapping_sub(1)))
        else {
            return core::ptr::null_mut();
        };
        let Some(new_next) = start.checked_add(layout.size()) else {
            return core::ptr::null_mut();
        };
        if !self.grow_to(new_next) {
            return core::ptr::null_mut();
        }
        self.next.set(new_next);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Give back the most recent allocation only; everything else waits for the call to end.
        if (ptr as usize).wrapping_add(layout.size()) == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_end = (ptr as usize).wrapping_add(layout.size());
        if old_end == self.next.get() {
            // The last allocation grows (or shrinks) in place.
            let Some(new_end) = (ptr as usize).checked_add(new_size) else {
                return core::ptr::null_mut();
            };
            if !self.grow_to(new_end) {
                return core::ptr::null_mut();
            }
            self.next.set(new_end);
            return ptr;
        }
        // SAFETY: the layout is valid as the caller guarantees for `realloc`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarding to our own `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both regions are valid and do not overlap (`new` lies above `old_end`).
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[global_allocator]
static ALLOC: Bump = Bump {
    next: Cell::new(0),
    end: Cell::new(0),
};

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Reported through `abort` so the receipt says what went wrong instead of "unreachable".
    let msg = alloc::format!("panic: {}", info.message());
    abort(&msg)
}
