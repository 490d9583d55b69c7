//! Where the harnesses' tools and ports come from: the workspace root, a tool's executable, a
//! free local port.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// # Panics
/// If no local port can be bound at all.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("cannot bind a local TCP port: {error}"))
}

/// The workspace's root directory (the one holding `Cargo.lock` and `.venv`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// Finds the executable `name`: the path in environment variable `env_var` if set, else
/// `<workspace>/.venv/bin/<name>`, else the first `name` on `PATH`.
pub fn find_tool(env_var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let in_venv = workspace_root().join(".venv").join("bin").join(name);
    if in_venv.is_file() {
        return Some(in_venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
