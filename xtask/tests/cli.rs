//! The xtask executable's help text lists every command (and makes `cargo test --workspace` build it for the
//! end-to-end tests in tests/).

#[test]
fn help_lists_every_command() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    for c in ["run", "status", "gc", "verify", "archive", "import", "bench"] {
        assert!(help.contains(c), "--help lacks {c}");
    }
}
