//! postcard encoding of openraft messages and store records.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes a value with postcard.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

/// Decodes a postcard value; trailing bytes are ignored by postcard, which is fine for records
/// we wrote ourselves and harmless for peer messages (they are checked by openraft).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}
