//! Fixtures the unit tests of several commands share.

use clap::Parser;
use feishu_bridge::secrets::{Credentials, Secret};

use crate::cli::{Cli, Command};

/// Parses a command line (without the program name) as the binary would.
pub fn command<'a>(args: impl IntoIterator<Item = &'a str>) -> Command {
    let argv = std::iter::once("approvalctl").chain(args);
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli.command,
        Err(error) => panic!("the test command line does not parse: {error}"),
    }
}

/// App credentials with callback token `cb-token` and, if given, callback key `key`.
pub fn credentials(key: Option<&str>) -> Credentials {
    Credentials {
        app_id: "cli_test".to_owned(),
        app_secret: Secret::new("app-secret"),
        callback_token: Secret::new("cb-token"),
        callback_key: key.map(Secret::new),
        previous_callback: None,
    }
}
