//! saad-gateway library.
pub mod domain;
