//! saad-gateway library.
pub mod charter;
pub mod domain;
