//! Guest SDK for hanok contract authors.
