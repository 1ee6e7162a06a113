//! Upload-time validation: every limit of DESIGN.md is checked with `wasmparser` before the
//! module ever reaches the compiler.

use crate::config::Limits;
use crate::error::ValidationError;
use hanok_abi::{exports, imports, HOST_MODULE};
use wasmparser::{
    CompositeInnerType, ExternalKind, FuncType, Operator, Parser, Payload, TypeRef, ValType,
    Validator, WasmFeatures,
};

/// The wasm features contracts may use: MVP plus the small, deterministic proposals that Rust's
/// `wasm32-unknown-unknown` target emits by default. Floats are allowed because the engine
/// canonicalises NaNs.
///
/// Without `GC_TYPES`, as the engine (built without wasmtime's `gc` feature) has it: reference
/// types bring `funcref` tables, which compilers emit, but not `externref`, which the engine
/// cannot compile. Found by the wasm-smith test: such a module passed validation and then
/// failed to compile.
pub(crate) fn allowed_features() -> WasmFeatures {
    (WasmFeatures::WASM1
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES)
        .difference(WasmFeatures::GC_TYPES)
}

/// Proposals that are switched off, with the names errors report. Ordered so that the most
/// specific proposal is tried first when we work out which one a module needed.
const DISABLED: &[(&str, WasmFeatures)] = &[
    ("simd", WasmFeatures::SIMD),
    (
        "relaxed-simd",
        WasmFeatures::RELAXED_SIMD.union(WasmFeatures::SIMD),
    ),
    ("threads", WasmFeatures::THREADS),
    (
        "shared-everything-threads",
        WasmFeatures::SHARED_EVERYTHING_THREADS,
    ),
    ("tail-call", WasmFeatures::TAIL_CALL),
    ("multi-memory", WasmFeatures::MULTI_MEMORY),
    ("memory64", WasmFeatures::MEMORY64),
    ("extended-const", WasmFeatures::EXTENDED_CONST),
    ("exceptions", WasmFeatures::EXCEPTIONS),
    ("legacy-exceptions", WasmFeatures::LEGACY_EXCEPTIONS),
    // Before the proposals below, which need it too: a module that only uses `externref`.
    ("externref (gc types)", WasmFeatures::GC_TYPES),
    (
        "function-references",
        WasmFeatures::FUNCTION_REFERENCES.union(WasmFeatures::GC_TYPES),
    ),
    (
        "gc",
        WasmFeatures::GC
            .union(WasmFeatures::FUNCTION_REFERENCES)
            .union(WasmFeatures::GC_TYPES),
    ),
    ("custom-page-sizes", WasmFeatures::CUSTOM_PAGE_SIZES),
    ("wide-arithmetic", WasmFeatures::WIDE_ARITHMETIC),
    (
        "stack-switching",
        WasmFeatures::STACK_SWITCHING
            .union(WasmFeatures::FUNCTION_REFERENCES)
            .union(WasmFeatures::GC_TYPES),
    ),
    ("compact-imports", WasmFeatures::COMPACT_IMPORTS),
];

fn val_code(t: &ValType) -> Option<char> {
    match t {
        ValType::I32 => Some('i'),
        ValType::I64 => Some('I'),
        _ => None,
    }
}

fn signature(f: &FuncType) -> Option<(String, String)> {
    let p: Option<String> = f.params().iter().map(val_code).collect();
    let r: Option<String> = f.results().iter().map(val_code).collect();
    Some((p?, r?))
}

fn invalid(e: wasmparser::BinaryReaderError) -> ValidationError {
    ValidationError::Invalid(e.message().to_string())
}

/// Checks `wasm` against every upload limit, then validates it with only the allowed features.
///
/// # Errors
/// The first limit broken, as a [`ValidationError`] naming it.
pub fn validate(wasm: &[u8], limits: &Limits) -> Result<(), ValidationError> {
    if wasm.len() > limits.max_code_bytes {
        return Err(ValidationError::CodeTooLarge {
            size: wasm.len(),
            limit: limits.max_code_bytes,
        });
    }
    if !wasm.starts_with(b"\0asm") {
        return Err(ValidationError::NotWasm);
    }
    // After the magic, a core module has version 1 (`01 00 00 00`); a component has a version
    // of its own and layer 1 (`xx xx 01 00`). Name it, rather than fail on whichever module
    // rule it breaks first.
    if wasm.get(6..8) == Some(&[1, 0]) {
        return Err(ValidationError::Component);
    }
    structure(wasm, limits)?;
    let mut validator = Validator::new_with_features(allowed_features());
    if let Err(err) = validator.validate_all(wasm) {
        // Find out whether switching on one disabled proposal would make it valid, to name it.
        for (name, feature) in DISABLED {
            let mut v = Validator::new_with_features(allowed_features() | *feature);
            if v.validate_all(wasm).is_ok() {
                return Err(ValidationError::DisabledFeature { feature: name });
            }
        }
        return Err(invalid(err));
    }
    Ok(())
}

/// One cheap pass over the module's sections, enforcing the structural caps before the full
/// validator and long before the compiler.
fn structure(wasm: &[u8], limits: &Limits) -> Result<(), ValidationError> {
    let mut types: Vec<Option<FuncType>> = Vec::new();
    let mut imported_funcs: u32 = 0;
    let mut defined_funcs: u32 = 0;
    let mut memories: u32 = 0;
    let mut tables: u32 = 0;
    let mut globals: u32 = 0;
    let mut custom_count: u32 = 0;
    let mut custom_bytes: usize = 0;
    let mut func_types: Vec<u32> = Vec::new();
    let mut exported: Vec<(String, ExternalKind, u32)> = Vec::new();
    let mut body_index: u32 = 0;

    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(invalid)?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(f.clone()),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for group in reader {
                    for import in group.map_err(invalid)? {
                        let (_, import) = import.map_err(invalid)?;
                        let allowed = imports::ALL.iter().find(|(n, _, _)| *n == import.name);
                        let (Some((name, params, results)), true) =
                            (allowed, import.module == HOST_MODULE)
                        else {
                            return Err(ValidationError::ImportNotAllowed {
                                module: import.module.to_string(),
                                name: import.name.to_string(),
                            });
                        };
                        let TypeRef::Func(ty) = import.ty else {
                            return Err(ValidationError::ImportNotAllowed {
                                module: import.module.to_string(),
                                name: import.name.to_string(),
                            });
                        };
                        let sig = usize::try_from(ty)
                            .ok()
                            .and_then(|i| types.get(i))
                            .and_then(|t| t.as_ref())
                            .and_then(signature);
                        if sig.as_ref().map(|(p, r)| (p.as_str(), r.as_str()))
                            != Some((*params, *results))
                        {
                            return Err(ValidationError::ImportSignature {
                                name: name.to_string(),
                            });
                        }
                        imported_funcs = imported_funcs.saturating_add(1);
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                defined_funcs = reader.count();
                for ty in reader {
                    func_types.push(ty.map_err(invalid)?);
                }
            }
            Payload::TableSection(reader) => {
                tables = tables.saturating_add(reader.count());
                for table in reader {
                    let table = table.map_err(invalid)?;
                    if table.ty.initial > limits.max_table_elements {
                        return Err(ValidationError::TableTooLarge {
                            size: table.ty.initial,
                            limit: limits.max_table_elements,
                        });
                    }
                }
            }
            Payload::MemorySection(reader) => {
                memories = memories.saturating_add(reader.count());
                for memory in reader {
                    let memory = memory.map_err(invalid)?;
                    if memory.initial > limits.max_memory_pages {
                        return Err(ValidationError::MemoryTooLarge {
                            pages: memory.initial,
                            limit: limits.max_memory_pages,
                        });
                    }
                }
            }
            Payload::GlobalSection(reader) => globals = reader.count(),
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(invalid)?;
                    exported.push((export.name.to_string(), export.kind, export.index));
                }
            }
            Payload::StartSection { .. } => return Err(ValidationError::StartFunction),
            Payload::CodeSectionEntry(body) => {
                let index = body_index;
                body_index = body_index.saturating_add(1);
                let size = body.range().len();
                if size > limits.max_function_body_bytes {
                    return Err(ValidationError::FunctionTooLarge {
                        index,
                        size,
                        limit: limits.max_function_body_bytes,
                    });
                }
                let mut locals: u64 = 0;
                for local in body.get_locals_reader().map_err(invalid)? {
                    let (count, _) = local.map_err(invalid)?;
                    locals = locals.saturating_add(u64::from(count));
                }
                if locals > limits.max_locals {
                    return Err(ValidationError::TooManyLocals {
                        index,
                        count: locals,
                        limit: limits.max_locals,
                    });
                }
                let mut depth: u32 = 0;
                let mut ops = body.get_operators_reader().map_err(invalid)?;
                while !ops.eof() {
                    match ops.read().map_err(invalid)? {
                        Operator::Block { .. }
                        | Operator::Loop { .. }
                        | Operator::If { .. }
                        | Operator::Try { .. }
                        | Operator::TryTable { .. } => {
                            depth = depth.saturating_add(1);
                            if depth > limits.max_nesting {
                                return Err(ValidationError::NestingTooDeep {
                                    index,
                                    depth,
                                    limit: limits.max_nesting,
                                });
                            }
                        }
                        Operator::End => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
            }
            Payload::CustomSection(reader) => {
                custom_count = custom_count.saturating_add(1);
                custom_bytes = custom_bytes.saturating_add(reader.data().len());
                if custom_count > limits.max_custom_sections
                    || custom_bytes > limits.max_custom_bytes
                {
                    return Err(ValidationError::CustomSections {
                        count: custom_count,
                        bytes: custom_bytes,
                        limit_count: limits.max_custom_sections,
                        limit_bytes: limits.max_custom_bytes,
                    });
                }
            }
            _ => {}
        }
    }

    let functions = imported_funcs.saturating_add(defined_funcs);
    if functions > limits.max_functions {
        return Err(ValidationError::TooManyFunctions {
            count: functions,
            limit: limits.max_functions,
        });
    }
    if globals > limits.max_globals {
        return Err(ValidationError::TooManyGlobals {
            count: globals,
            limit: limits.max_globals,
        });
    }
    if memories != 1 {
        return Err(ValidationError::MemoryCount { count: memories });
    }
    if tables > 1 {
        return Err(ValidationError::TableCount { count: tables });
    }
    if !exported
        .iter()
        .any(|(n, k, _)| n == exports::MEMORY && *k == ExternalKind::Memory)
    {
        return Err(ValidationError::MissingExport {
            name: exports::MEMORY,
        });
    }
    for name in exports::ENTRY_POINTS {
        let Some((_, kind, index)) = exported.iter().find(|(n, _, _)| n == name) else {
            if exports::REQUIRED.contains(name) {
                return Err(ValidationError::MissingExport { name });
            }
            continue;
        };
        let ty = (*kind == ExternalKind::Func)
            .then(|| index.checked_sub(imported_funcs))
            .flatten()
            .and_then(|i| func_types.get(usize::try_from(i).ok()?))
            .and_then(|t| types.get(usize::try_from(*t).ok()?))
            .and_then(|t| t.as_ref())
            .and_then(signature);
        if ty.as_ref().map(|(p, r)| (p.as_str(), r.as_str())) != Some(("", "I")) {
            return Err(ValidationError::ExportSignature {
                name: name.to_string(),
            });
        }
    }
    Ok(())
}
