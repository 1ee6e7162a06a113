//! `ContractError`, the deterministic error a contract returns, and the `bail!`/`ensure!` macros.

use alloc::string::{String, ToString};
use core::fmt;

/// A contract error: deterministic data that the VM records in the receipt after reverting the
/// transaction's writes. It is just a message, because it crosses the wasm boundary as UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub struct ContractError {
    msg: String,
}

impl ContractError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> ContractError {
        ContractError { msg: msg.into() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.msg
    }

    /// The message, by value.
    pub fn into_message(self) -> String {
        self.msg
    }
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl fmt::Debug for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContractError({:?})", self.msg)
    }
}

impl From<&str> for ContractError {
    fn from(msg: &str) -> Self {
        ContractError::new(msg)
    }
}

impl From<String> for ContractError {
    fn from(msg: String) -> Self {
        ContractError { msg }
    }
}

impl From<hanok_abi::AbiError> for ContractError {
    fn from(e: hanok_abi::AbiError) -> Self {
        ContractError::new(e.to_string())
    }
}

/// Returns early with a [`ContractError`] built like `format!`.
///
/// ```
/// use hanok_sdk::{bail, ContractError};
/// fn check(n: u32) -> Result<(), ContractError> {
///     if n > 3 {
///         bail!("too many: {n}");
///     }
///     Ok(())
/// }
/// assert_eq!(check(5).unwrap_err().message(), "too many: 5");
/// ```
#[macro_export]
macro_rules! bail {
    ($($arg:tt)+) => {
        return ::core::result::Result::Err($crate::ContractError::new($crate::__private::format!($($arg)+)))
    };
}

/// Returns early with a [`ContractError`] unless the condition holds.
///
/// ```
/// use hanok_sdk::{ensure, ContractError};
/// fn check(n: u32) -> Result<(), ContractError> {
///     ensure!(n <= 3, "too many: {n}");
///     Ok(())
/// }
/// assert!(check(2).is_ok());
/// assert_eq!(check(4).unwrap_err().message(), "too many: 4");
/// ```
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::bail!($($arg)+);
        }
    };
}
