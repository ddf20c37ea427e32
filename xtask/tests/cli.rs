//! The xtask executable's help text lists every command (and makes `cargo test --workspace` build it for the
//! end-to-end tests in tests/).

#[test]
fn help_lists_every_command() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    // Each command is listed on its own line of the "Commands:" section, with its description.
    let commands: Vec<&str> = help
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_whitespace().next())
        .collect();
    for c in ["run", "status", "gc", "verify", "archive", "import", "bench"] {
        assert!(commands.contains(&c), "--help lacks the command {c}:\n{help}");
    }
}
