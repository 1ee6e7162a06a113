//! The frame runner: [`run_frame`] runs one entry point of one contract on a fresh instance,
//! for a session's top-level call and for a host function's nested call alike.

use crate::contract::{load_code_hash, CodeHash};
use crate::engine::{HostCtx, Inner, Limiter};
use crate::error::{CallError, Fault, HostTrap, Result};
use crate::tx::TxState;
use hanok_abi::{decode_result, exports, layout, Address};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasmtime::{InstancePre, Store, Trap};

/// One call to run: which entry point of which contract, for whom, with what input.
pub(crate) struct Frame {
    pub(crate) contract: Address,
    pub(crate) sender: Address,
    /// 1 for a transaction's own call; each nested call adds one.
    pub(crate) depth: u32,
    pub(crate) read_only: bool,
    pub(crate) entry: &'static str,
    pub(crate) input: Vec<u8>,
}

/// Turns whatever stopped wasm into a [`CallError`] whose message carries no host detail.
fn classify(e: wasmtime::Error) -> CallError {
    if let Some(HostTrap(inner)) = e.downcast_ref::<HostTrap>() {
        return inner.clone();
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return match t {
            Trap::OutOfFuel => Fault::OutOfGas.into(),
            Trap::StackOverflow => Fault::StackOverflow.into(),
            other => Fault::Trap(trap_text(*other)).into(),
        };
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return Fault::Resources("too many concurrent instances".into()).into();
    }
    // Anything else comes from instantiation; keep the message free of host detail.
    Fault::Trap("instantiation failed".into()).into()
}

/// Our own words for a wasm trap, without wasmtime's `wasm trap: ` prefix (which
/// [`Fault::Trap`]'s message adds once). Written out here rather than taken from wasmtime's
/// `Display`, because the text is part of a receipt and must not change with a wasmtime upgrade.
fn trap_text(t: Trap) -> String {
    let text = match t {
        Trap::MemoryOutOfBounds => "out of bounds memory access",
        Trap::TableOutOfBounds => "out of bounds table access",
        Trap::IndirectCallToNull => "indirect call to an uninitialised table element",
        Trap::BadSignature => "indirect call type mismatch",
        Trap::IntegerOverflow => "integer overflow",
        Trap::IntegerDivisionByZero => "integer divide by zero",
        Trap::BadConversionToInteger => "invalid conversion to integer",
        Trap::UnreachableCodeReached => "`unreachable` instruction executed",
        Trap::NullReference => "null reference",
        // The rest need proposals hanok switches off; keep wasmtime's words without its prefix.
        other => {
            let s = other.to_string();
            return s
                .strip_prefix("wasm trap: ")
                .map(str::to_string)
                .unwrap_or(s);
        }
    };
    text.to_string()
}

/// The compiled module of `hash`: from memory, from the disk cache, or, only after the disk cache
/// was lost, compiled again from the code in state (it was validated at upload).
fn load_module(
    inner: &Arc<Inner>,
    tx: &Rc<RefCell<TxState>>,
    hash: &CodeHash,
) -> Result<Arc<InstancePre<HostCtx>>> {
    if let Some(pre) = inner.module(hash) {
        return Ok(pre);
    }
    let wasm = {
        let t = tx.borrow();
        t.overlay.get(t.backend.as_ref(), &layout::code_key(hash))?
    };
    let wasm = wasm.ok_or_else(|| Fault::NoSuchCode(hash.to_hex()))?;
    let (_, _, pre) = inner.prepare_pre(&wasm).map_err(Fault::Invalid)?;
    Ok(pre)
}

/// Runs one entry point on a fresh instance with `fuel`; returns the result and the fuel left.
/// On any error the frame's writes and events are undone.
pub(crate) fn run_frame(
    inner: &Arc<Inner>,
    tx: &Rc<RefCell<TxState>>,
    frame: Frame,
    fuel: u64,
) -> (Result<Vec<u8>>, u64) {
    let (cp, events_len) = {
        let t = tx.borrow();
        (t.overlay.checkpoint(), t.events.len())
    };
    let (result, left) = run_frame_inner(inner, tx, frame, fuel);
    if result.is_err() {
        let mut t = tx.borrow_mut();
        t.overlay.revert(cp);
        t.events.truncate(events_len);
    }
    (result, left)
}

fn run_frame_inner(
    inner: &Arc<Inner>,
    tx: &Rc<RefCell<TxState>>,
    frame: Frame,
    fuel: u64,
) -> (Result<Vec<u8>>, u64) {
    if fuel < inner.gas.instantiate {
        return (Err(Fault::OutOfGas.into()), 0);
    }
    let code = {
        let t = tx.borrow();
        load_code_hash(
            &t.overlay,
            t.backend.as_ref(),
            t.contracts.as_ref(),
            &frame.contract,
        )
    };
    let code = match code {
        Ok(code) => code,
        Err(e) => return (Err(e), fuel),
    };
    let pre = match load_module(inner, tx, &code) {
        Ok(p) => p,
        Err(e) => return (Err(e), fuel),
    };
    let ctx = HostCtx {
        inner: inner.clone(),
        tx: tx.clone(),
        contract: frame.contract,
        sender: frame.sender,
        depth: frame.depth,
        read_only: frame.read_only,
        input: frame.input,
        register: Vec::new(),
        memory: None,
        limiter: Limiter::new(&inner.limits),
    };
    let mut store = Store::new(&inner.engine, ctx);
    store.limiter(|c| &mut c.limiter);
    if store
        .set_fuel(fuel.saturating_sub(inner.gas.instantiate))
        .is_err()
    {
        return (
            Err(Fault::Resources("fuel is not enabled".into()).into()),
            0,
        );
    }
    let left = |s: &Store<HostCtx>| s.get_fuel().unwrap_or(0);
    let instance = match pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) => {
            let l = left(&store);
            return (Err(classify(e)), l);
        }
    };
    let Some(memory) = instance.get_memory(&mut store, exports::MEMORY) else {
        return (
            Err(Fault::HostMisuse("contract has no exported memory".into()).into()),
            left(&store),
        );
    };
    store.data_mut().memory = Some(memory);
    let Ok(func) = instance.get_typed_func::<(), i64>(&mut store, frame.entry) else {
        return (Err(Fault::NoEntryPoint(frame.entry).into()), left(&store));
    };
    tx.borrow_mut().stack.push(frame.contract);
    let ret = func.call(&mut store, ());
    tx.borrow_mut().stack.pop();
    let fuel_left = left(&store);
    let packed = match ret {
        Ok(p) => p,
        Err(e) => return (Err(classify(e)), fuel_left),
    };
    let (ptr, len) = layout::unpack_ptr_len(packed);
    let (ptr, len) = (ptr as usize, len as usize);
    if len > inner.limits.max_result_bytes.saturating_add(1) {
        return (
            Err(Fault::HostMisuse(format!(
                "result of {len} bytes is above the limit of {}",
                inner.limits.max_result_bytes
            ))
            .into()),
            fuel_left,
        );
    }
    let Some(bytes) = memory.data(&store).get(ptr..ptr.saturating_add(len)) else {
        return (Err(Fault::BadResult.into()), fuel_left);
    };
    let result = match decode_result(bytes) {
        Ok(Ok(data)) => Ok(data),
        Ok(Err(message)) => Err(CallError::Contract {
            contract: frame.contract,
            message,
        }),
        Err(_) => Err(Fault::BadResult.into()),
    };
    (result, fuel_left)
}
