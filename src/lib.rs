//! saad-gateway library.
pub mod domain;
pub mod storage;
