//! Runnable examples of the ACE workspace; each is an `[[example]]` of this package, run with
//! `cargo run -p ace-examples --example <name>`. This library is empty on purpose.

#![forbid(unsafe_code)]
