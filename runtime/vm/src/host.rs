//! The host functions of module `hanok`, each charged gas before it does any work. `call` and
//! `query` run the callee through the frame runner, in the caller's transaction.

use crate::config::GasSchedule;
use crate::engine::HostCtx;
use crate::error::{trap, CallError, Fault};
use crate::frame::{run_frame, Frame};
use crate::tx::ContractEvent;
use hanok_abi::{
    encode_pairs, encode_result, exports, imports, layout, Address, Env, Event, HOST_MODULE,
};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use wasmtime::{Caller, Linker, Memory};

fn misuse(msg: impl Into<String>) -> wasmtime::Error {
    trap(Fault::HostMisuse(msg.into()))
}

type C<'a> = Caller<'a, HostCtx>;

/// The VM's gas schedule, borrowed from the store (read a field and let the borrow end before
/// charging).
fn gas<'a>(caller: &'a C<'_>) -> &'a GasSchedule {
    &caller.data().inner.gas
}

fn charge(caller: &mut C<'_>, gas: u64) -> wasmtime::Result<()> {
    let left = caller.get_fuel()?;
    if left < gas {
        caller.set_fuel(0)?;
        return Err(trap(Fault::OutOfGas));
    }
    caller.set_fuel(left.saturating_sub(gas))
}

fn bytes_gas(per_byte: u64, len: usize) -> u64 {
    per_byte.saturating_mul(u64::try_from(len).unwrap_or(u64::MAX))
}

fn memory(caller: &C<'_>) -> wasmtime::Result<Memory> {
    caller
        .data()
        .memory
        .ok_or_else(|| misuse("contract has no exported memory"))
}

/// Copies `len` bytes at `ptr` out of guest memory, refusing more than `max`.
fn read(
    caller: &mut C<'_>,
    ptr: i32,
    len: i32,
    max: usize,
    what: &str,
) -> wasmtime::Result<Vec<u8>> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len > max {
        return Err(misuse(format!(
            "{what} of {len} bytes is above the limit of {max}"
        )));
    }
    let mem = memory(caller)?;
    mem.data(&*caller)
        .get(ptr..ptr.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| misuse(format!("{what}: pointer out of bounds")))
}

fn write(caller: &mut C<'_>, ptr: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let ptr = ptr as u32 as usize;
    let mem = memory(caller)?;
    mem.data_mut(&mut *caller)
        .get_mut(ptr..ptr.saturating_add(bytes.len()))
        .ok_or_else(|| misuse("destination pointer out of bounds"))?
        .copy_from_slice(bytes);
    Ok(())
}

fn set_register(caller: &mut C<'_>, bytes: Vec<u8>) -> i32 {
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    caller.data_mut().register = bytes;
    len
}

fn read_key(caller: &mut C<'_>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let max = caller.data().inner.limits.max_key_bytes;
    read(caller, ptr, len, max, "storage key")
}

fn read_address(caller: &mut C<'_>, ptr: i32) -> wasmtime::Result<Address> {
    let bytes = read(caller, ptr, 20, 20, "address")?;
    Address::from_slice(&bytes).ok_or_else(|| misuse("address must be 20 bytes"))
}

fn writable(caller: &C<'_>, what: &str) -> wasmtime::Result<()> {
    if caller.data().read_only {
        return Err(misuse(format!("{what} is not allowed in a query")));
    }
    Ok(())
}

/// Registers every host function on the linker.
pub(crate) fn define(linker: &mut Linker<HostCtx>) -> wasmtime::Result<()> {
    let m = HOST_MODULE;

    linker.func_wrap(m, imports::INPUT, |mut c: C<'_>| -> wasmtime::Result<i32> {
        let cost = {
            let (g, len) = (gas(&c), c.data().input.len());
            g.host_call.saturating_add(bytes_gas(g.per_byte, len))
        };
        charge(&mut c, cost)?;
        let input = c.data().input.clone();
        Ok(set_register(&mut c, input))
    })?;

    linker.func_wrap(m, imports::ENV, |mut c: C<'_>| -> wasmtime::Result<i32> {
        let cost = gas(&c).host_call;
        charge(&mut c, cost)?;
        let env = {
            let d = c.data();
            let tx = d.tx.borrow();
            Env {
                height: tx.block.height,
                time: tx.block.time,
                chain_id: tx.block.chain_id.clone(),
                sender: d.sender,
                origin: tx.origin,
                contract: d.contract,
            }
        };
        Ok(set_register(&mut c, env.encode()))
    })?;

    linker.func_wrap(
        m,
        imports::REGISTER_READ,
        |mut c: C<'_>, dst: i32| -> wasmtime::Result<()> {
            let cost = {
                let (g, len) = (gas(&c), c.data().register.len());
                g.host_call.saturating_add(bytes_gas(g.per_byte, len))
            };
            charge(&mut c, cost)?;
            let reg = std::mem::take(&mut c.data_mut().register);
            let r = write(&mut c, dst, &reg);
            c.data_mut().register = reg;
            r
        },
    )?;

    linker.func_wrap(
        m,
        imports::STORAGE_READ,
        |mut c: C<'_>, kp: i32, kl: i32| -> wasmtime::Result<i32> {
            let key = read_key(&mut c, kp, kl)?;
            let cost = {
                let g = gas(&c);
                g.storage_read
                    .saturating_add(bytes_gas(g.per_byte, key.len()))
            };
            charge(&mut c, cost)?;
            let full = layout::storage_key(&c.data().contract, &key);
            let value = {
                let tx = c.data().tx.borrow();
                tx.overlay.get(tx.backend.as_ref(), &full).map_err(trap)?
            };
            match value {
                None => Ok(-1),
                Some(v) => {
                    let cost = bytes_gas(gas(&c).per_byte, v.len());
                    charge(&mut c, cost)?;
                    Ok(set_register(&mut c, v))
                }
            }
        },
    )?;

    linker.func_wrap(
        m,
        imports::STORAGE_WRITE,
        |mut c: C<'_>, kp: i32, kl: i32, vp: i32, vl: i32| -> wasmtime::Result<()> {
            writable(&c, "storage_write")?;
            let max_value = c.data().inner.limits.max_value_bytes;
            let key = read_key(&mut c, kp, kl)?;
            let value = read(&mut c, vp, vl, max_value, "storage value")?;
            let cost = {
                let g = gas(&c);
                g.storage_write.saturating_add(bytes_gas(
                    g.per_byte_written,
                    key.len().saturating_add(value.len()),
                ))
            };
            charge(&mut c, cost)?;
            let full = layout::storage_key(&c.data().contract, &key);
            c.data().tx.borrow_mut().overlay.put(full, Some(value));
            Ok(())
        },
    )?;

    linker.func_wrap(
        m,
        imports::STORAGE_REMOVE,
        |mut c: C<'_>, kp: i32, kl: i32| -> wasmtime::Result<()> {
            writable(&c, "storage_remove")?;
            let key = read_key(&mut c, kp, kl)?;
            let cost = {
                let g = gas(&c);
                g.storage_remove
                    .saturating_add(bytes_gas(g.per_byte, key.len()))
            };
            charge(&mut c, cost)?;
            let full = layout::storage_key(&c.data().contract, &key);
            c.data().tx.borrow_mut().overlay.put(full, None);
            Ok(())
        },
    )?;

    linker.func_wrap(
        m,
        imports::STORAGE_RANGE,
        |mut c: C<'_>, sp: i32, sl: i32, ep: i32, el: i32, limit: i32| -> wasmtime::Result<i32> {
            let max_pairs = c.data().inner.limits.max_range_pairs;
            let limit = (limit.max(0) as u32).min(max_pairs) as usize;
            let start = read_key(&mut c, sp, sl)?;
            let end = if el == -1 {
                None
            } else {
                Some(read_key(&mut c, ep, el)?)
            };
            let cost = gas(&c).storage_range;
            charge(&mut c, cost)?;
            let contract = c.data().contract;
            let prefix = layout::storage_prefix(&contract);
            let full_start = layout::storage_key(&contract, &start);
            let full_end = match end {
                Some(e) => Some(layout::storage_key(&contract, &e)),
                None => layout::prefix_end(&prefix),
            };
            let pairs = {
                let tx = c.data().tx.borrow();
                tx.overlay
                    .scan(tx.backend.as_ref(), &full_start, full_end.as_deref(), limit)
                    .map_err(trap)?
            };
            let stripped: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(k, v)| (k.get(prefix.len()..).unwrap_or_default(), v.as_slice()))
                .collect();
            let encoded = encode_pairs(&stripped);
            let cost = {
                let g = gas(&c);
                let pair_gas = g.per_range_pair.saturating_mul(stripped.len() as u64);
                pair_gas.saturating_add(bytes_gas(g.per_byte, encoded.len()))
            };
            charge(&mut c, cost)?;
            Ok(set_register(&mut c, encoded))
        },
    )?;

    linker.func_wrap(
        m,
        imports::EMIT_EVENT,
        |mut c: C<'_>, p: i32, l: i32| -> wasmtime::Result<()> {
            writable(&c, "emit_event")?;
            let (max_bytes, max_events) = (
                c.data().inner.limits.max_event_bytes,
                c.data().inner.limits.max_events,
            );
            let bytes = read(&mut c, p, l, max_bytes, "event")?;
            let cost = {
                let g = gas(&c);
                g.event
                    .saturating_add(bytes_gas(g.per_byte_written, bytes.len()))
            };
            charge(&mut c, cost)?;
            let ev = Event::decode(&bytes).map_err(|e| misuse(e.to_string()))?;
            let contract = c.data().contract;
            let mut tx = c.data().tx.borrow_mut();
            if tx.events.len() >= max_events {
                return Err(misuse(format!(
                    "more than {max_events} events in one transaction"
                )));
            }
            tx.events.push(ContractEvent {
                contract,
                ty: ev.ty,
                attributes: ev.attributes,
            });
            Ok(())
        },
    )?;

    linker.func_wrap(
        m,
        imports::CALL,
        |c: C<'_>, ap: i32, mp: i32, ml: i32| -> wasmtime::Result<i32> {
            nested(c, ap, mp, ml, false)
        },
    )?;
    linker.func_wrap(
        m,
        imports::QUERY,
        |c: C<'_>, ap: i32, mp: i32, ml: i32| -> wasmtime::Result<i32> {
            nested(c, ap, mp, ml, true)
        },
    )?;

    linker.func_wrap(
        m,
        imports::SHA256,
        |mut c: C<'_>, p: i32, l: i32, out: i32| -> wasmtime::Result<()> {
            let max = c.data().inner.limits.max_message_bytes;
            let data = read(&mut c, p, l, max, "sha256 input")?;
            let cost = {
                let g = gas(&c);
                g.sha256.saturating_add(bytes_gas(g.per_byte, data.len()))
            };
            charge(&mut c, cost)?;
            let digest: [u8; 32] = Sha256::digest(&data).into();
            write(&mut c, out, &digest)
        },
    )?;

    linker.func_wrap(
        m,
        imports::SECP256K1_VERIFY,
        |mut c: C<'_>, hp: i32, sp: i32, pkp: i32, pkl: i32| -> wasmtime::Result<i32> {
            let cost = gas(&c).secp256k1_verify;
            charge(&mut c, cost)?;
            let hash = read(&mut c, hp, 32, 32, "message hash")?;
            let sig = read(&mut c, sp, 64, 64, "signature")?;
            let pk = read(&mut c, pkp, pkl, 65, "public key")?;
            Ok(i32::from(secp256k1_verify(&hash, &sig, &pk)))
        },
    )?;

    linker.func_wrap(
        m,
        imports::ABORT,
        |mut c: C<'_>, p: i32, l: i32| -> wasmtime::Result<()> {
            let l = l.clamp(0, 4096);
            let msg = read(&mut c, p, l, 4096, "abort message")?;
            Err(trap(Fault::Aborted(
                String::from_utf8_lossy(&msg).into_owned(),
            )))
        },
    )?;

    Ok(())
}

/// Verifies a compact low-S secp256k1 signature over a 32-byte prehash.
pub fn secp256k1_verify(hash: &[u8], sig: &[u8], pubkey: &[u8]) -> bool {
    // High-S signatures are malleable twins of valid ones; refuse them (the one rule, in abi).
    if !hanok_abi::secp256k1::is_low_s(sig) {
        return false;
    }
    let (Ok(key), Ok(sig)) = (
        VerifyingKey::from_sec1_bytes(pubkey),
        Signature::from_slice(sig),
    ) else {
        return false;
    };
    key.verify_prehash(hash, &sig).is_ok()
}

/// `call` and `query`: run another contract synchronously in this transaction.
fn nested(mut c: C<'_>, ap: i32, mp: i32, ml: i32, read_only: bool) -> wasmtime::Result<i32> {
    let (max_msg, max_depth) = (
        c.data().inner.limits.max_message_bytes,
        c.data().inner.limits.max_call_depth,
    );
    if !read_only {
        writable(&c, "call")?;
    }
    let target = read_address(&mut c, ap)?;
    let msg = read(&mut c, mp, ml, max_msg, "message")?;
    let cost = {
        let g = gas(&c);
        g.call.saturating_add(bytes_gas(g.per_byte, msg.len()))
    };
    charge(&mut c, cost)?;
    let depth = c.data().depth.saturating_add(1);
    if depth > max_depth {
        return Err(trap(Fault::CallDepth { limit: max_depth }));
    }
    if !read_only && c.data().tx.borrow().stack.contains(&target) {
        return Err(trap(Fault::Reentry { contract: target }));
    }
    let frame = Frame {
        contract: target,
        sender: c.data().contract,
        depth,
        read_only,
        entry: if read_only {
            exports::QUERY
        } else {
            exports::EXECUTE
        },
        input: msg,
    };
    let fuel = c.get_fuel()?;
    let (inner, tx) = (c.data().inner.clone(), c.data().tx.clone());
    let (result, left) = run_frame(&inner, &tx, frame, fuel);
    c.set_fuel(left)?;
    let encoded = match result {
        Ok(data) => encode_result(Ok(&data)),
        Err(CallError::Contract { message, .. }) => encode_result(Err(&message)),
        // A fault (out of gas, trap, limit) or a storage failure stops the whole transaction.
        Err(e) => return Err(trap(e)),
    };
    Ok(set_register(&mut c, encoded))
}
