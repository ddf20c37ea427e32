//! Helpers live in the test files; this crate exists to hold the end-to-end tests.
