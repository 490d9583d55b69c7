//! The command line: subcommands, their arguments, and the checks that turn bad arguments into
//! usage errors (exit code 2) before anything is sent.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::{OsStringValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use feishu_bridge::client::FeishuDomain;
use feishu_bridge::crypto::CallbackCipher;
use feishu_bridge::lifecycle::InstanceStatusPolicy;
use feishu_bridge::models::i18n::Locale;
use feishu_bridge::redrive::SyncRoleId;

use crate::error::CliError;

/// Most summary lines a bot card shows (`feishu-api.md` §5.1).
pub const MAX_SUMMARIES: usize = 5;

/// Longest custom approval code Feishu accepts (`feishu-api.md` §3).
const MAX_APPROVAL_CODE_CHARS: usize = 128;

/// Setup and test CLI for Feishu / Lark third-party approval (三方审批).
///
/// Credentials come from the environment, in two parts: the app id and secret from the AWS
/// Secrets Manager secret named by FEISHU_APP_SECRET_ID, else FEISHU_APP_ID and FEISHU_APP_SECRET;
/// the callback token and key from the secret named by FEISHU_CALLBACK_SECRET_ID, else
/// FEISHU_CALLBACK_TOKEN and optionally FEISHU_CALLBACK_KEY (send-callback needs only these).
/// Exit codes: 0 success, 1 failure, 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "approvalctl", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the external approval definition (always sends the full definition).
    Register(RegisterArgs),
    /// Encrypt a callback body the way Feishu does; prints {"encrypt":"…"}.
    Encrypt(EncryptArgs),
    /// Decrypt a callback body ({"encrypt":"…"} or the bare base64).
    Decrypt(DecryptArgs),
    /// Post a quick-approval callback, built exactly like Feishu's, to a URL.
    SendCallback(SendCallbackArgs),
    /// Push a full external instance through the sync function (synchronous Lambda invoke).
    Push(PushArgs),
    /// Send a test approval bot card (template 1008) to a user.
    Card(CardArgs),
    /// List the jobs in the sync functions' failure queue with their reason, hand the ones
    /// Lambda's on-failure destination wrote back to the asynchronous sync function, and list
    /// what stays with the reason (--dry-run: list only).
    Redrive(RedriveArgs),
    /// Show an instance's stored records beside Feishu's view of it (external_instances/check);
    /// exit 0 when in sync, 1 when not.
    Inspect(InspectArgs),
}

/// Which Feishu deployment to call.
#[derive(Debug, Args)]
pub struct FeishuArgs {
    /// OpenAPI base URL (a proxy or the simulator); overrides --domain.
    #[arg(long, env = "FEISHU_BASE_URL", value_name = "URL", value_parser = base_url)]
    pub base_url: Option<String>,
    /// The Open Platform the app lives on.
    #[arg(
        long,
        env = "FEISHU_DOMAIN",
        value_enum,
        ignore_case = true,
        default_value_t = Domain::Feishu
    )]
    pub domain: Domain,
}

/// `--domain` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Domain {
    /// Feishu, https://open.feishu.cn.
    Feishu,
    /// Lark, https://open.larksuite.com.
    Lark,
}

impl From<Domain> for FeishuDomain {
    fn from(domain: Domain) -> Self {
        match domain {
            Domain::Feishu => Self::Feishu,
            Domain::Lark => Self::Lark,
        }
    }
}

/// `register` arguments.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Your custom approval code, the upsert key (keep passing the same one to update).
    #[arg(long, value_name = "CUSTOM", value_parser = approval_code)]
    pub approval_code: String,
    /// Definition name shown in the Approval Center.
    #[arg(long, value_name = "TEXT", value_parser = text)]
    pub name: String,
    /// Where Feishu posts quick-approval callbacks (the callback function's URL).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub callback_url: String,
    /// Approval group code (created if new); needs --group-name.
    #[arg(long, value_name = "CODE", requires = "group_name", value_parser = text)]
    pub group_code: Option<String>,
    /// Approval group name; needs --group-code.
    #[arg(long, value_name = "TEXT", requires = "group_code", value_parser = text)]
    pub group_name: Option<String>,
    /// Definition description.
    #[arg(long, value_name = "TEXT", value_parser = text)]
    pub description: Option<String>,
    /// Source label shown as "来自 …" (without the prefix).
    #[arg(long, value_name = "TEXT", value_parser = text)]
    pub biz_name: Option<String>,
    /// Link of the "create" button on PC (not shown on PC without it).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub create_link_pc: Option<String>,
    /// Link of the "create" button on mobile (not shown on mobile without it).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub create_link_mobile: Option<String>,
    /// Locale of the texts above (the definition's default locale).
    #[arg(long, value_name = "LOCALE", default_value = "zh-CN", value_parser = locale)]
    pub locale: Locale,
    /// Let everyone in the tenant see the definition on the "create" page (else nobody).
    #[arg(long)]
    pub viewer_tenant: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Which Feishu deployment to call.
    #[command(flatten)]
    pub feishu: FeishuArgs,
}

/// `--key`, read straight into the callback cipher it stands for.
#[derive(Debug, Args)]
pub struct CallbackKeyArg {
    /// The definition's action_callback_key.
    #[arg(
        long = "key",
        value_name = "KEY",
        env = "FEISHU_CALLBACK_KEY",
        hide_env_values = true,
        value_parser = callback_cipher
    )]
    pub cipher: CallbackCipher,
}

/// `encrypt` arguments.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The definition's action_callback_key.
    #[command(flatten)]
    pub key: CallbackKeyArg,
    /// The plaintext callback JSON: a file, or - for standard input.
    #[arg(value_name = "FILE|-", default_value = "-", value_parser = input_parser())]
    pub input: Input,
}

/// `decrypt` arguments.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The definition's action_callback_key.
    #[command(flatten)]
    pub key: CallbackKeyArg,
    /// The encrypted body: a file, or - for standard input.
    #[arg(value_name = "FILE|-", default_value = "-", value_parser = input_parser())]
    pub input: Input,
    /// Print the decrypted `token` instead of redacting it.
    #[arg(long)]
    pub show_token: bool,
}

/// `send-callback` arguments.
#[derive(Debug, Args)]
pub struct SendCallbackArgs {
    /// The callback endpoint.
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub url: String,
    /// `approval_code` of the callback.
    #[arg(long, value_name = "CODE", value_parser = text)]
    pub approval_code: String,
    /// `task_id` of the callback (card actions may carry only `--message-id`).
    #[arg(long, value_name = "ID", value_parser = text, required_unless_present = "message_id")]
    pub task_id: Option<String>,
    /// `instance_id` of the callback (list and search actions).
    #[arg(long, value_name = "ID", value_parser = text)]
    pub instance_id: Option<String>,
    /// `message_id` of the callback (card actions); sent as a JSON number like Feishu does.
    #[arg(long, value_name = "DIGITS")]
    pub message_id: Option<u64>,
    /// APPROVE, REJECT (any case) or a custom action key.
    #[arg(long, value_name = "APPROVE|REJECT|KEY", value_parser = action)]
    pub action: String,
    /// The approver's user_id.
    #[arg(long, value_name = "ID", value_parser = text)]
    pub user_id: String,
    /// The approver's comment.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// The action_context set on the task or card, echoed back.
    #[arg(long, value_name = "TEXT")]
    pub action_context: Option<String>,
    /// Send plaintext even when a callback key is configured.
    #[arg(long)]
    pub plaintext: bool,
    /// Seconds to wait for the answer (Feishu waits 10, Lark 5).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=300)
    )]
    pub timeout_secs: u64,
}

/// `push` arguments.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The sync function: name, ARN or partial ARN.
    #[arg(
        long,
        env = "SYNC_FUNCTION_NAME",
        default_value = "approval-sync",
        value_parser = text
    )]
    pub function: String,
    /// Send a quick-approval card to the approver of each pending task that has none yet.
    #[arg(long)]
    pub notify: bool,
    /// The full external instance JSON: a file, or - for standard input.
    #[arg(value_name = "INSTANCE.json|-", value_parser = input_parser())]
    pub instance: Input,
}

/// `redrive` arguments.
#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The failure queue's URL (the stack's FailureQueueUrl output).
    #[arg(long, env = "FAILURE_QUEUE_URL", value_name = "URL", value_parser = http_url)]
    pub queue_url: String,
    /// The asynchronous sync function to hand jobs back to (the stack's AsyncSyncFunctionName
    /// output, `<stack>-sync`): name, ARN or partial ARN.
    #[arg(
        long,
        env = "ASYNC_SYNC_FUNCTION_NAME",
        default_value = "approval-sync",
        value_parser = text
    )]
    pub function: String,
    /// The unique id of the sync functions' role (the stack's SyncRoleId output, or
    /// `aws iam get-role --role-name … --query Role.RoleId`): only records whose SQS SenderId is
    /// a session of this role, i.e. written by Lambda's on-failure destination, are handed back.
    #[arg(long, env = "SYNC_ROLE_ID", value_name = "ROLE_ID")]
    pub sync_role_id: SyncRoleId,
    /// List the jobs and their reasons only; invoke and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Handle at most this many jobs in one run.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..=100_000).map(|n| n as usize)
    )]
    pub limit: usize,
    /// Seconds a received job stays hidden from other consumers while this run handles it
    /// (jobs that stay are made visible again when the run ends).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 900,
        value_parser = clap::value_parser!(i32).range(30..=43_200)
    )]
    pub visibility_timeout_secs: i32,
}

/// `inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The instance to inspect.
    #[arg(value_name = "INSTANCE_ID")]
    pub instance_id: String,
    /// The sync function's DynamoDB table (the stack's TableName output).
    #[arg(long, env = "TABLE_NAME", value_name = "TABLE")]
    pub table: String,
    /// How the sync function derives instance statuses (its INSTANCE_STATUS_POLICY).
    #[arg(
        long,
        env = "INSTANCE_STATUS_POLICY",
        value_enum,
        ignore_case = true,
        default_value_t = Policy::Derive
    )]
    pub policy: Policy,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Which Feishu deployment to ask.
    #[command(flatten)]
    pub feishu: FeishuArgs,
}

/// `--policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Policy {
    /// The bridge derives the instance status from its tasks.
    Derive,
    /// Only the company's system sets the instance status.
    External,
}

impl From<Policy> for InstanceStatusPolicy {
    fn from(policy: Policy) -> Self {
        match policy {
            Policy::Derive => Self::Derive,
            Policy::External => Self::External,
        }
    }
}

/// `card` arguments.
#[derive(Debug, Args)]
pub struct CardArgs {
    /// Recipient's user_id.
    #[arg(long, value_name = "USER_ID", value_parser = text)]
    pub to: String,
    /// Approval name in the card title.
    #[arg(long, value_name = "TEXT", value_parser = text)]
    pub approval_name: String,
    /// Link of the "view details" button (all four platform links).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub link: String,
    /// Add Approve / Reject buttons that post to this callback URL.
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub callback_url: Option<String>,
    /// action_context echoed back in the callback (with --callback-url).
    #[arg(long, value_name = "TEXT", requires = "callback_url")]
    pub action_context: Option<String>,
    /// The applicant's user_id, named in the title (else "… 待你审批").
    #[arg(long, value_name = "USER_ID", value_parser = text)]
    pub applicant: Option<String>,
    /// A summary line (repeat for up to 5).
    #[arg(long, value_name = "TEXT", value_parser = text)]
    pub summary: Vec<String>,
    /// Locale of the texts above.
    #[arg(long, value_name = "LOCALE", default_value = "zh-CN", value_parser = locale)]
    pub locale: Locale,
    /// Which Feishu deployment to call.
    #[command(flatten)]
    pub feishu: FeishuArgs,
}

impl Cli {
    /// Parses the process arguments; prints help, version or a usage error and exits (code 2 for
    /// errors) when that is the outcome.
    pub fn parse_or_exit() -> Self {
        let cli = Self::parse();
        if let Err(error) = cli.check() {
            error.exit();
        }
        cli
    }

    /// Checks that span several arguments.
    fn check(&self) -> Result<(), clap::Error> {
        use clap::CommandFactory;
        if let Command::Card(card) = &self.command
            && card.summary.len() > MAX_SUMMARIES
        {
            let mut command = Self::command();
            return Err(command.error(
                clap::error::ErrorKind::TooManyValues,
                format!(
                    "--summary is given {} times; a card shows at most {MAX_SUMMARIES} lines",
                    card.summary.len()
                ),
            ));
        }
        Ok(())
    }
}

/// A file to read, or standard input (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// How the input is named in messages.
    pub fn name(&self) -> String {
        match self {
            Self::Stdin => "standard input".to_owned(),
            Self::File(path) => path.display().to_string(),
        }
    }

    /// Reads the whole input as UTF-8 text.
    pub fn read(&self) -> Result<String, CliError> {
        let read = match self {
            Self::Stdin => std::io::read_to_string(std::io::stdin()),
            Self::File(path) => std::fs::read_to_string(path),
        };
        read.map_err(|source| CliError::ReadInput {
            input: self.name(),
            source,
        })
    }
}

/// `-` for standard input, anything else non-empty for a file path.
fn input(value: OsString) -> Result<Input, &'static str> {
    if value == "-" {
        Ok(Input::Stdin)
    } else if value.is_empty() {
        Err("must be a file path or - for standard input")
    } else {
        Ok(Input::File(PathBuf::from(value)))
    }
}

/// The value parser of [`Input`] arguments.
fn input_parser() -> impl TypedValueParser<Value = Input> {
    OsStringValueParser::new().try_map(input)
}

/// A text that is not blank; kept as given.
fn text(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(value.to_owned())
    }
}

/// The cipher of a non-empty callback key, taken exactly as given and never echoed in an error.
fn callback_cipher(value: &str) -> Result<CallbackCipher, String> {
    if value.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(CallbackCipher::new(value))
    }
}

/// A custom approval code: 1 to 128 characters.
fn approval_code(value: &str) -> Result<String, String> {
    let code = text(value)?;
    let chars = code.chars().count();
    if chars > MAX_APPROVAL_CODE_CHARS {
        return Err(format!(
            "is {chars} characters long; Feishu accepts at most {MAX_APPROVAL_CODE_CHARS}"
        ));
    }
    Ok(code)
}

/// An absolute http(s) URL with a host; kept as given.
fn http_url(value: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(value)
        .map_err(|error| format!("is not an absolute http(s) URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("is not an absolute http(s) URL".to_owned());
    }
    Ok(value.to_owned())
}

/// An OpenAPI base URL: an http(s) URL without query, fragment or user info.
fn base_url(value: &str) -> Result<String, String> {
    let checked = http_url(value)?;
    let url = reqwest::Url::parse(&checked).map_err(|error| error.to_string())?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err("must not carry a query, a fragment or user info".to_owned());
    }
    Ok(checked)
}

/// A locale Feishu knows, e.g. `zh-CN` or `en-US`.
fn locale(value: &str) -> Result<Locale, String> {
    match Locale::from(value) {
        Locale::Other(_) => Err(
            "is not a Feishu locale (e.g. zh-CN, en-US, ja-JP, zh-HK, zh-TW, de-DE, fr-FR)"
                .to_owned(),
        ),
        known => Ok(known),
    }
}

/// `APPROVE` or `REJECT` in any case, else a custom action key kept as given.
fn action(value: &str) -> Result<String, String> {
    let action = text(value)?;
    if action.chars().any(char::is_whitespace) {
        return Err("must be APPROVE, REJECT or an action key without spaces".to_owned());
    }
    let upper = action.to_ascii_uppercase();
    Ok(if upper == "APPROVE" || upper == "REJECT" {
        upper
    } else {
        action
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("approvalctl").chain(args.iter().copied()))?;
        cli.check()?;
        Ok(cli)
    }

    #[test]
    fn the_command_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(http_url("https://example.com/callback").is_ok());
        assert!(http_url("http://127.0.0.1:9000").is_ok());
        for bad in ["example.com/callback", "ftp://example.com", "", "https://"] {
            assert!(http_url(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(base_url("http://127.0.0.1:9000/").is_ok());
        assert!(base_url("https://open.feishu.cn/?x=1").is_err());
        assert!(base_url("https://user:pw@open.feishu.cn").is_err());
    }

    #[test]
    fn approval_codes_are_bounded() {
        assert!(approval_code("MY_CODE").is_ok());
        assert!(approval_code(&"x".repeat(128)).is_ok());
        assert!(approval_code(&"x".repeat(129)).is_err());
        assert!(approval_code("  ").is_err());
    }

    #[test]
    fn locales_must_be_known_spellings() {
        assert_eq!(locale("en-US"), Ok(Locale::EnUs));
        assert!(locale("zh_cn").is_err());
    }

    #[test]
    fn approve_and_reject_are_normalised_and_custom_keys_kept() {
        assert_eq!(action("approve").as_deref(), Ok("APPROVE"));
        assert_eq!(action("Reject").as_deref(), Ok("REJECT"));
        assert_eq!(action("TRANSFER_it").as_deref(), Ok("TRANSFER_it"));
        assert!(action("two words").is_err());
    }

    #[test]
    fn group_code_and_name_go_together() {
        let base = [
            "register",
            "--approval-code",
            "C",
            "--name",
            "N",
            "--callback-url",
            "https://x.example/cb",
        ];
        let mut only_code = base.to_vec();
        only_code.extend(["--group-code", "G"]);
        assert!(parse(&only_code).is_err());
        let mut both = only_code.clone();
        both.extend(["--group-name", "Group"]);
        assert!(parse(&both).is_ok());
    }

    #[test]
    fn a_card_takes_at_most_five_summaries() {
        let mut args = vec![
            "card",
            "--to",
            "u1",
            "--approval-name",
            "Leave",
            "--link",
            "https://x.example/1",
        ];
        for _ in 0..MAX_SUMMARIES {
            args.extend(["--summary", "line"]);
        }
        assert!(parse(&args).is_ok());
        args.extend(["--summary", "line"]);
        let error = parse(&args).unwrap_err();
        assert!(error.to_string().contains("at most 5"), "{error}");
    }

    #[test]
    fn dash_means_standard_input() {
        let cli = parse(&["push", "-"]).unwrap();
        let Command::Push(push) = cli.command else {
            panic!("push expected");
        };
        assert_eq!(push.instance, Input::Stdin);
        assert!(parse(&["push", ""]).is_err());
    }
}
